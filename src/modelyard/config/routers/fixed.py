"""``kind: fixed`` — always the same target."""

from __future__ import annotations

from typing import Literal

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.types import Target

__all__ = ["FixedSpec"]


class FixedSpec(RouterSpec):
    kind: Literal["fixed"] = "fixed"
    target: TargetRef

    def references(self) -> list[tuple[str, Target]]:
        return [("target", Target.parse(self.target))]
