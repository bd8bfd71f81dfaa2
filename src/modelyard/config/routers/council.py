"""``kind: council`` — several models at once, under one deadline.

```yaml
routers:
  vote:
    kind: council
    strategy: majority            # first_valid | majority | judge | review
    members: [a, b, c]
    extract: '(?i)answer:\\s*(\\w+)'
  reviewed:
    kind: council
    strategy: review
    writer: big
    reviewers: [critic-1, critic-2]
    max_rounds: 3
    quorum: 1                     # reviews needed for a round to count
    member_timeout_ms: 20000
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.config.routers.judge_specs import JudgeField
from modelyard.types import Target

__all__ = ["CouncilSpec", "CouncilStrategy"]

CouncilStrategy = Literal["first_valid", "majority", "judge", "review"]


class CouncilSpec(RouterSpec):
    kind: Literal["council"] = "council"
    strategy: CouncilStrategy
    members: list[TargetRef] = Field(default_factory=list, description="first_valid / majority / judge")
    judge: JudgeField | None = Field(
        default=None, description="first_valid: what counts as valid (default heuristic); judge: the scorer"
    )
    gate: float = Field(default=0.5, ge=0, le=1, description="first_valid: minimum judge score")
    extract: str | None = Field(
        default=None, description="majority: regex whose group 1 is the answer to vote on"
    )
    min_agreement: int | None = Field(
        default=None, ge=1, description="majority: votes needed (default: > half)"
    )
    writer: TargetRef | None = Field(default=None, description="review: drafts and revises")
    reviewers: list[TargetRef] = Field(default_factory=list, description="review: critique concurrently")
    max_rounds: int = Field(default=3, ge=1, le=20, description="review: review rounds at most")
    quorum: int = Field(
        default=1, ge=1, description="review: reviews that must come back for a round to count"
    )
    member_timeout_ms: float | None = Field(
        default=None, gt=0, description="cap per member call, within the deadline"
    )
    reviewer_instructions: str | None = None
    revise_instructions: str | None = None

    @field_validator("members", "reviewers")
    @classmethod
    def _no_routers(cls, value: list[str]) -> list[str]:
        for ref in value:
            if Target.parse(ref).kind == "router":
                raise ValueError(f"{ref!r}: council members are models or families, not routers")
        return value

    @field_validator("extract")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if compiled.groups < 1:
                raise ValueError("needs a capture group: group 1 is the answer voted on")
        return value

    @model_validator(mode="after")
    def _fits_strategy(self) -> CouncilSpec:
        if self.strategy == "review":
            if self.writer is None:
                raise ValueError("strategy review needs a 'writer'")
            if Target.parse(self.writer).kind == "router":
                raise ValueError("'writer' must be a model or a family, not a router")
            if not self.reviewers:
                raise ValueError("strategy review needs at least one entry in 'reviewers'")
            if self.quorum > len(self.reviewers):
                raise ValueError(f"quorum {self.quorum} exceeds the {len(self.reviewers)} reviewers")
            if self.members:
                raise ValueError("strategy review uses 'writer' and 'reviewers', not 'members'")
        else:
            if not self.members:
                raise ValueError(f"strategy {self.strategy} needs at least one entry in 'members'")
            if self.writer is not None or self.reviewers:
                raise ValueError("'writer' and 'reviewers' apply to strategy review only")
            if self.strategy == "judge" and self.judge is None:
                raise ValueError("strategy judge needs a 'judge' to score the answers")
        return self

    def references(self) -> list[tuple[str, Target]]:
        refs = [(f"members[{i}]", Target.parse(m)) for i, m in enumerate(self.members)]
        if self.writer is not None:
            refs.append(("writer", Target.parse(self.writer)))
        refs += [(f"reviewers[{i}]", Target.parse(r)) for i, r in enumerate(self.reviewers)]
        if self.judge is not None:
            refs += [(f"judge.{key}", target) for key, target in self.judge.references()]
        return refs
