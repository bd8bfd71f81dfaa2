"""``kind: heuristic`` — free checks that catch the obvious bad answers.

Empty, too short, too long, cut off at the token limit, or a refusal. It costs
nothing and runs first in most compositions, so an LLM judge is only paid for
answers that survive it. The score says how bad the worst problem is.
"""

from __future__ import annotations

from modelyard.config.routers.judge_specs import HeuristicJudgeSpec
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Verdict
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["HeuristicJudge"]

#: Score for each problem; the verdict takes the lowest that applies.
_EMPTY, _REFUSAL, _TRUNCATED, _TOO_LONG = 0.0, 0.2, 0.4, 0.5


class HeuristicJudge:
    kind = "heuristic"

    def __init__(self, spec: HeuristicJudgeSpec) -> None:
        self.spec = spec
        self._refusals = [p.lower() for p in (*spec.refusals, *spec.extra_refusals) if p]

    @classmethod
    def from_spec(cls, spec: HeuristicJudgeSpec, build: BuildContext) -> HeuristicJudge:
        return cls(spec)

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        return self.check(answer)

    def check(self, answer: ChatResponse) -> Verdict:
        text = answer.text.strip()
        if not text and not answer.tool_calls and not answer.images:
            return Verdict(_EMPTY, False, "empty answer", self.kind)
        problems: list[tuple[float, str]] = []
        s = self.spec
        if len(text) < s.min_chars and not answer.tool_calls:
            problems.append(
                (0.3 * len(text) / max(1, s.min_chars), f"{len(text)} chars < min_chars {s.min_chars}")
            )
        if s.max_chars is not None and len(text) > s.max_chars:
            problems.append((_TOO_LONG, f"{len(text)} chars > max_chars {s.max_chars}"))
        lowered = text.lower()
        hit = next((p for p in self._refusals if p in lowered), None)
        if hit is not None:
            problems.append((_REFUSAL, f"refusal phrase {hit!r}"))
        if s.reject_truncated and answer.finish_reason == "length":
            problems.append((_TRUNCATED, "cut off at the token limit"))
        if not problems:
            return Verdict(1.0, True, "passes heuristic checks", self.kind)
        score = min(p[0] for p in problems)
        return Verdict(score, False, "; ".join(p[1] for p in problems), self.kind)
