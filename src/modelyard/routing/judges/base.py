"""The `Judge` seam: (request, answer) → `Verdict` (a score with a reason).

Cascades ask a judge whether a step's answer is good enough to return; councils
use one to check validity or pick the best answer. A judge never raises for a
bad answer or a broken grader: it returns a verdict that says so.

A verdict carries two signals:

* ``score`` in [0, 1], or ``None`` for *no signal* (e.g. the provider returned
  no log-probs). Compositions skip no-signal verdicts; a gate treats one as
  not passing unless configured otherwise.
* ``passed``: a judge's own hard outcome. Verifiers (regex, JSON schema, a
  test-running callable) and heuristics say True/False; graded judges (LLM,
  embedding, log-prob) leave it ``None`` and let the gate compare the score.
  ``passed=False`` vetoes an answer whatever its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from modelyard.routing.base import RouteContext
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["Judge", "NoSignal", "Verdict", "accepts", "wants_logprobs"]

NoSignal = Literal["fail", "pass"]


@dataclass(frozen=True)
class Verdict:
    """One judge's opinion of one answer."""

    score: float | None
    passed: bool | None
    reason: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            object.__setattr__(self, "score", min(1.0, max(0.0, self.score)))

    @property
    def has_signal(self) -> bool:
        return self.score is not None or self.passed is not None

    @classmethod
    def check(cls, ok: bool, reason: str, source: str, **details: Any) -> Verdict:
        """A binary verdict: score 1 and passed, or score 0 and failed."""
        return cls(1.0 if ok else 0.0, ok, reason, source, details)

    @classmethod
    def no_signal(cls, reason: str, source: str, **details: Any) -> Verdict:
        return cls(None, None, reason, source, details)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for decision details and telemetry."""
        out: dict[str, Any] = {
            "source": self.source,
            "score": None if self.score is None else round(self.score, 6),
            "passed": self.passed,
            "reason": self.reason,
        }
        if self.details:
            out["details"] = self.details
        return out


@runtime_checkable
class Judge(Protocol):
    """Scores one answer. Implementations must not raise on bad answers or graders.

    A judge that needs per-token log-probs sets ``wants_logprobs = True``; the
    cascade then asks the provider for them.
    """

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict: ...


def wants_logprobs(judge: Judge) -> bool:
    return bool(getattr(judge, "wants_logprobs", False))


def accepts(verdict: Verdict, gate: float, no_signal: NoSignal = "fail") -> tuple[bool, str]:
    """Does ``verdict`` clear ``gate``? Returns (accepted, why) for decision reasons."""
    if verdict.passed is False:
        return False, f"{verdict.source} failed: {verdict.reason}"
    if verdict.score is None:
        if verdict.passed is True:
            return True, f"{verdict.source} passed: {verdict.reason}"
        ok = no_signal == "pass"
        return ok, f"no signal from {verdict.source} ({verdict.reason}); no_signal={no_signal}"
    if verdict.score >= gate:
        return True, f"score {verdict.score:.2f} ≥ gate {gate:.2f}"
    return False, f"score {verdict.score:.2f} < gate {gate:.2f} ({verdict.reason})"
