"""Walk from the requested name through routers to one concrete model."""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.errors import RoutingError, UnknownModelError
from modelyard.routing import ExecutingRouter, RouteContext, Router
from modelyard.types import ChatRequest, Decision, Family, Target

__all__ = ["resolve"]

_MAX_HOPS = 32
_FAMILIES = {f.value for f in Family}


async def resolve(
    name: str, request: ChatRequest, routers: Mapping[str, Router], ctx: RouteContext
) -> tuple[Decision, ExecutingRouter | None]:
    """Return the decision, and the executing router to run if the path ends in one."""
    registry = ctx.registry
    if name in registry:
        spec = registry.get(name)
        direct = Decision(
            target=Target(kind="model", name=name),
            router="direct",
            reason=f"request named model {name!r}",
            path=[],
            model=name,
            family=spec.family,
            confidence=1.0,
        )
        return direct, None
    if name in _FAMILIES:
        start = Decision(
            target=Target(kind="family", name=name), router="direct", reason=f"request named family {name!r}"
        )
        return _land(start, request, ctx), None
    if name not in routers:
        raise UnknownModelError(name, [*registry.names(), *routers])

    router = routers[name]
    decision: Decision | None = None
    for _ in range(_MAX_HOPS):
        if isinstance(router, ExecutingRouter):
            if decision is None:
                decision = Decision(
                    target=Target(kind="router", name=router.name),
                    router=router.name,
                    reason=f"{router.kind} router runs the request",
                    path=[],
                )
            return decision, router
        step = await router.decide(request, ctx)
        decision = step if decision is None else decision.then(step)
        target = step.target
        if target.kind == "model" and target.name in routers:
            target = Target(kind="router", name=target.name)
        if target.kind == "router":
            router = routers[target.name]
            continue
        return _land(decision, request, ctx), None
    raise RoutingError(f"router chain longer than {_MAX_HOPS} hops starting at {name!r}")


def _land(decision: Decision, request: ChatRequest, ctx: RouteContext) -> Decision:
    """Turn a family or model target into a concrete model."""
    target = decision.target
    if target.kind == "family":
        selection = ctx.select(Family(target.name), request)
        return decision.model_copy(
            update={
                "model": selection.model.name,
                "family": selection.model.family,
                "candidates": [*decision.candidates, *selection.candidates],
            }
        )
    spec = ctx.registry.get(target.name)
    return decision.model_copy(update={"model": spec.name, "family": spec.family})
