"""``kind: cascade`` — try cheap first, escalate while a judge says the answer is not good enough.

```yaml
routers:
  answer:
    kind: cascade
    judge: {kind: heuristic, min_chars: 20}      # default for every step
    gate: 0.7                                    # default minimum score
    steps:
      - small                                    # a model ...
      - {target: slm, gate: 0.9}                 # ... or a family, with its own gate
      - {target: big, judge: {kind: all, of: [{kind: heuristic}, {kind: llm, model: grader}]}}
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.config.routers.judge_specs import HeuristicJudgeSpec, JudgeField
from modelyard.types import Target

__all__ = ["CascadeSpec", "CascadeStepSpec"]

NoSignalPolicy = Literal["fail", "pass"]


def _model_or_family(value: str) -> str:
    if Target.parse(value).kind == "router":
        raise ValueError("must name a model or a family, not a router")
    return value


class CascadeStepSpec(BaseModel):
    """One rung: a model or family, and optionally its own judge, gate and no-signal policy."""

    model_config = ConfigDict(extra="forbid")
    target: TargetRef
    gate: float | None = Field(default=None, ge=0, le=1)
    judge: JudgeField | None = None
    no_signal: NoSignalPolicy | None = None

    _target = field_validator("target")(_model_or_family)


class CascadeSpec(RouterSpec):
    kind: Literal["cascade"] = "cascade"
    steps: list[CascadeStepSpec] = Field(min_length=1)
    judge: JudgeField = Field(default_factory=HeuristicJudgeSpec)
    gate: float = Field(default=0.7, ge=0, le=1)
    no_signal: NoSignalPolicy = Field(
        default="fail", description="a verdict without a score (e.g. no log-probs) fails or passes the gate"
    )
    deadline_aware: bool = Field(
        default=True, description="stop escalating when the time left is below the next step's p50 latency"
    )
    on_error: Literal["escalate", "raise"] = Field(
        default="escalate", description="a step whose call fails escalates, or fails the request"
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _bare_targets(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"target": item} if isinstance(item, str) else item for item in value]
        return value

    def references(self) -> list[tuple[str, Target]]:
        refs = [(f"judge.{key}", target) for key, target in self.judge.references()]
        for i, step in enumerate(self.steps):
            refs.append((f"steps[{i}].target", Target.parse(step.target)))
            if step.judge is not None:
                refs += [(f"steps[{i}].judge.{key}", target) for key, target in step.judge.references()]
        return refs
