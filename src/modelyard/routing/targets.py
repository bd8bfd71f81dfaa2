"""Preference lists of targets ("moe if it is healthy, else llm"), and capability checks.

Every router that chooses among targets asks the same question here first: can
this target serve a request of this *shape* at all (`incapable`: endpoint,
images, free chat vs classification only — `ModelSpec.capabilities`)? A target
that cannot is never chosen; the router falls through to its next choice (the
next rule or table row, the next most probable label, the next matching route)
and records the skipped target with the reason as a `Candidate`.

A rule or table row may name one target or a list. With a list, the first
capable target that can serve the request right now is taken: a model that is
enabled, not held back by live state (an open breaker, a rate limit) and fits
the request (context, privacy, latency budget, cost cap); a family with at least
one such model; or a router (always). The last capable entry is the fallback and
is taken regardless, so that selection can say precisely why nothing fits.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from modelyard.config.routers.rules import TargetChoice
from modelyard.routing.base import RouteContext
from modelyard.types import Candidate, ChatRequest, Family, Target

__all__ = ["TargetList", "compile_choice", "first_capable", "incapable", "unavailable"]


class TargetList:
    """Compiled `TargetChoice`: targets parsed once, model names that are routers fixed up."""

    __slots__ = ("targets",)

    def __init__(self, targets: tuple[Target, ...]) -> None:
        if not targets:
            raise ValueError("a target list must not be empty")
        self.targets = targets

    def __str__(self) -> str:
        return " | ".join(t.name for t in self.targets)

    def pick(self, request: ChatRequest, ctx: RouteContext) -> tuple[Target | None, list[Candidate]]:
        """The first usable target (None when none can serve this shape), and a candidate per one skipped."""
        skipped: list[Candidate] = []
        targets = self.targets
        capable: Sequence[Target] = targets
        for target in targets:
            if (why := incapable(target, request, ctx)) is not None:
                skipped.append(Candidate(name=str(target), accepted=False, reason=f"cannot serve this request: {why}"))
                capable = [t for t in capable if t is not target]
        if not capable:
            return None, skipped
        for target in capable[:-1]:
            why = unavailable(target, request, ctx)
            if why is None:
                return target, skipped
            skipped.append(Candidate(name=str(target), accepted=False, reason=why))
        return capable[-1], skipped

    def pick_or_last(self, request: ChatRequest, ctx: RouteContext) -> tuple[Target, list[Candidate]]:
        """Like `pick`, but when no target can serve the shape take the last one and let selection say why."""
        target, skipped = self.pick(request, ctx)
        return (target if target is not None else self.targets[-1]), skipped


def incapable(target: Target, request: ChatRequest, ctx: RouteContext) -> str | None:
    """Why ``target`` can never serve a request of this shape, or None.

    Routers are always capable (they decide for themselves); a family is capable
    when one enabled model of it is; live state is not consulted (see `unavailable`).
    """
    if target.kind == "router":
        return None
    if target.kind == "family":
        return ctx.registry.shape_rejection(Family(target.name), request, ctx.endpoint)
    if target.name not in ctx.registry:
        return None  # a router named as a bare model reference; it decides for itself
    return ctx.registry.get(target.name).shape_rejection(request, ctx.endpoint)


def first_capable(
    ranked: Sequence[Target], request: ChatRequest, ctx: RouteContext, *, labels: Sequence[str] | None = None
) -> tuple[int | None, list[Candidate]]:
    """Index of the first target in ``ranked`` that can serve this shape (None: none can).

    The routers that rank their choices (classifier labels by probability, semantic
    routes by similarity) walk their ranking with this; each skipped target becomes a
    rejected `Candidate` named by ``labels[i]`` (default: the target) with the reason.
    """
    skipped: list[Candidate] = []
    for i, target in enumerate(ranked):
        why = incapable(target, request, ctx)
        if why is None:
            return i, skipped
        name = labels[i] if labels is not None else str(target)
        skipped.append(Candidate(name=name, accepted=False, reason=f"{target.name} cannot serve this request: {why}"))
    return None, skipped


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
            why = registry.rejection(spec, request, ctx.availability, endpoint=ctx.endpoint)
            if why is None:
                return None
            reasons.append(f"{spec.name}: {why}")
        return f"no {target.name} model can serve it ({'; '.join(reasons)})"
    return registry.rejection(registry.get(target.name), request, ctx.availability, endpoint=ctx.endpoint)


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
