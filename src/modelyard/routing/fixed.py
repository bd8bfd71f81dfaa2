"""``kind: fixed`` — always the same target; the simplest router there is."""

from __future__ import annotations

from modelyard.config.routers import FixedSpec
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.types import ChatRequest, Decision, Target

__all__ = ["FixedRouter"]


class FixedRouter(Router):
    kind = "fixed"

    def __init__(self, name: str, target: Target) -> None:
        super().__init__(name)
        self.target = target

    @classmethod
    def from_spec(cls, spec: FixedSpec, build: BuildContext) -> FixedRouter:
        target = Target.parse(spec.target)
        if target.kind == "model" and target.name in build.routers:
            target = Target(kind="router", name=target.name)
        return cls(spec.name, target)

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return self.decision(self.target, f"fixed route to {self.target.name}", confidence=1.0)
