"""Preference lists of targets: "moe if it is healthy, else llm".

A rule or table row may name one target or a list. With a list, the first
target that can serve the request right now is taken: a model that is
enabled, not held back by live state (an open breaker, a rate limit) and fits
the request (modalities, context, privacy, latency budget, cost cap); a family
with at least one such model; or a router (always). The last entry is the
fallback and is taken regardless, so that selection can say precisely why
nothing fits.
"""

from __future__ import annotations

from collections.abc import Collection

from modelyard.config.routers.rules import TargetChoice
from modelyard.routing.base import RouteContext
from modelyard.types import Candidate, ChatRequest, Family, Target

__all__ = ["TargetList", "compile_choice", "unavailable"]


class TargetList:
    """Compiled `TargetChoice`: targets parsed once, model names that are routers fixed up."""

    __slots__ = ("targets",)

    def __init__(self, targets: tuple[Target, ...]) -> None:
        if not targets:
            raise ValueError("a target list must not be empty")
        self.targets = targets

    def __str__(self) -> str:
        return " | ".join(t.name for t in self.targets)

    def pick(self, request: ChatRequest, ctx: RouteContext) -> tuple[Target, list[Candidate]]:
        """The first usable target, and a candidate entry for each one skipped."""
        targets = self.targets
        if len(targets) == 1:
            return targets[0], []
        skipped: list[Candidate] = []
        for target in targets[:-1]:
            why = unavailable(target, request, ctx)
            if why is None:
                return target, skipped
            skipped.append(Candidate(name=str(target), accepted=False, reason=why))
        return targets[-1], skipped


def unavailable(target: Target, request: ChatRequest, ctx: RouteContext) -> str | None:
    """Why ``target`` cannot serve ``request`` right now, or None."""
    if target.kind == "router":
        return None
    registry = ctx.registry
    if target.kind == "family":
        models = registry.of_family(Family(target.name))
        if not models:
            return f"no {target.name} model is configured"
        reasons = []
        for spec in models:
            why = registry.rejection(spec, request, ctx.availability)
            if why is None:
                return None
            reasons.append(f"{spec.name}: {why}")
        return f"no {target.name} model can serve it ({'; '.join(reasons)})"
    return registry.rejection(registry.get(target.name), request, ctx.availability)


def compile_choice(choice: TargetChoice, routers: Collection[str]) -> TargetList:
    """Parse references; a bare name that is a router becomes a router target."""
    refs = [choice] if isinstance(choice, str) else list(choice)
    targets = []
    for ref in refs:
        target = Target.parse(ref)
        if target.kind == "model" and target.name in routers:
            target = Target(kind="router", name=target.name)
        targets.append(target)
    return TargetList(tuple(targets))
