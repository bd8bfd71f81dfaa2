"""``kind: all | any | mean | min`` — judges made of judges.

* ``all``: hard conjunction. Children run in order and the first hard failure
  stops the rest (list cheap heuristics before a paid LLM judge). Score = the
  lowest child score; passed = False if any child failed, True if all passed.
* ``any``: hard disjunction. Stops at the first child that passes.
  Score = the highest child score.
* ``mean``: weighted mean of the child scores (``weights``, default equal);
  soft — ``passed`` is left to the gate.
* ``min``: the lowest child score, every child run; soft like ``mean``.

Children that give no signal (``score=None``, e.g. log-probs not returned) are
left out of scores and weights; if none give a signal, neither does the whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.config.routers.judge_specs import ComposeSpec
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Judge, Verdict, wants_logprobs
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["ComposedJudge"]


class ComposedJudge:
    def __init__(self, kind: str, judges: Sequence[Judge], weights: Sequence[float] | None = None) -> None:
        if kind not in ("all", "any", "mean", "min"):
            raise ValueError(f"unknown composition {kind!r}")
        self.kind = kind
        self.judges = list(judges)
        self.weights = list(weights) if weights is not None else [1.0] * len(self.judges)
        self.wants_logprobs = any(wants_logprobs(j) for j in self.judges)

    @classmethod
    def from_spec(cls, spec: ComposeSpec, build: BuildContext) -> ComposedJudge:
        from modelyard.routing.judges.registry import build_judge

        return cls(
            spec.kind,
            [build_judge(child, build, key=f"of[{i}]") for i, child in enumerate(spec.of)],
            spec.weights,
        )

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        verdicts: list[Verdict] = []
        for judge in self.judges:
            verdict = await judge.judge(request, answer, ctx)
            verdicts.append(verdict)
            if (self.kind == "all" and verdict.passed is False) or (
                self.kind == "any" and verdict.passed is True
            ):
                break
        return self.combine(verdicts)

    def combine(self, verdicts: Sequence[Verdict]) -> Verdict:
        skipped = len(self.judges) - len(verdicts)
        details: dict[str, object] = {"children": [v.to_dict() for v in verdicts]}
        if skipped:
            details["skipped"] = skipped
        scored = [(v.score, w) for v, w in zip(verdicts, self.weights, strict=False) if v.score is not None]
        flags = [v.passed for v in verdicts if v.passed is not None]
        if not scored and not flags:
            return Verdict(None, None, "no judge gave a signal", self.kind, details)
        scores = [s for s, _ in scored]
        passed: bool | None = None
        if self.kind == "all":
            score = min(scores) if scores else None
            passed = False if False in flags else (True if flags and len(flags) == len(verdicts) else None)
        elif self.kind == "any":
            score = max(scores) if scores else None
            passed = True if True in flags else (False if flags and len(flags) == len(verdicts) else None)
        elif self.kind == "min":
            score = min(scores) if scores else None
        else:
            total = sum(w for _, w in scored)
            score = sum(s * w for s, w in scored) / total if total > 0 else None
        deciding = next((v for v in verdicts if v.passed is False), None) if self.kind == "all" else None
        reason = (
            deciding.reason
            if deciding is not None
            else "; ".join(f"{v.source}: {v.reason}" for v in verdicts)
        )
        return Verdict(score, passed, reason, self.kind, details)
