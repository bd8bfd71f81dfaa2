"""The routing decision: what was chosen, by whom, and why.

Every router returns a `Decision`; when one router hands over to another the
engine chains them, so the final decision carries the whole path. Telemetry
and ``modelyard route --explain`` read nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.types.enums import Family

__all__ = ["Candidate", "Decision", "Target", "TaskProfile"]

TargetKind = Literal["model", "family", "router"]


class Target(BaseModel):
    """Where a router sends the request: a model, a family, or another router."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, ref: str) -> Target:
        """``model:x``, ``family:slm``, ``router:y``; a bare family name is a family."""
        kind, sep, name = ref.partition(":")
        if sep and kind in ("model", "family", "router"):
            return cls(kind=kind, name=name)  # type: ignore[arg-type]
        if ref in {f.value for f in Family}:
            return cls(kind="family", name=ref)
        return cls(kind="model", name=ref)


class Candidate(BaseModel):
    """A target a router looked at, and why it was taken or dropped."""

    model_config = ConfigDict(extra="forbid")
    name: str
    accepted: bool
    reason: str
    score: float | None = None


class TaskProfile(BaseModel):
    """The five-property task profile of the decision framework."""

    model_config = ConfigDict(extra="forbid")
    output_space: Literal["open", "constrained", "structured"]
    modality: Literal["text", "image+text", "action"]
    latency_budget: Literal["<50ms", "<500ms", "<5s"]
    volume: Literal["<10K/day", "<1M/day", ">1M/day"]
    precision: Literal["approximate", "high", "pixel"]


class Decision(BaseModel):
    """A routing outcome.

    ``target`` is what the deciding router chose; once the engine has resolved
    families and sub-routers, ``model`` and ``family`` name the concrete model
    that will answer and ``path`` lists every router on the way.
    """

    model_config = ConfigDict(extra="forbid")
    target: Target
    router: str
    reason: str
    confidence: float | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    path: list[str] = Field(default_factory=list)
    model: str | None = None
    family: Family | None = None
    profile: TaskProfile | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    def then(self, nxt: Decision) -> Decision:
        """Chain this decision (which pointed at a router) with that router's own."""
        return nxt.model_copy(
            update={
                "path": [*self.path, *nxt.path],
                "reason": f"{self.reason} → {nxt.reason}",
                "candidates": [*self.candidates, *nxt.candidates],
                "confidence": nxt.confidence if nxt.confidence is not None else self.confidence,
                "profile": nxt.profile or self.profile,
                "details": {**self.details, **nxt.details},
            }
        )

    def explain(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"model:      {self.model or self.target.name}"
            + (f" (family {self.family.value})" if self.family else ""),
            f"path:       {' → '.join(self.path) or self.router}",
            f"reason:     {self.reason}",
        ]
        if self.confidence is not None:
            lines.append(f"confidence: {self.confidence:.2f}")
        if self.profile is not None:
            p = self.profile
            lines.append(
                f"profile:    output={p.output_space} modality={p.modality} "
                f"latency={p.latency_budget} volume={p.volume} precision={p.precision}"
            )
        for c in self.candidates:
            mark = "✓" if c.accepted else "✗"
            lines.append(f"  {mark} {c.name}: {c.reason}")
        return "\n".join(lines)
