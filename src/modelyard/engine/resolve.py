"""Walk from the requested name through routers to one concrete model.

Routers fall through past targets that cannot serve the request (shape and
context window: `modelyard.routing.targets.incapable`). When the path still lands
on a family or model that cannot hold the request and *no* configured model can,
the request is the client's to shorten: `RequestError` (HTTP 400, code
``context_too_long``, param ``messages``) instead of a routing failure.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.errors import NoModelFitsError, RequestError, RoutingError, UnknownModelError
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
        try:
            selection = ctx.select(Family(target.name), request)
        except NoModelFitsError:
            _too_long_for_any(request, ctx)
            raise
        return decision.model_copy(
            update={
                "model": selection.model.name,
                "family": selection.model.family,
                "candidates": [*decision.candidates, *selection.candidates],
            }
        )
    spec = ctx.registry.get(target.name)
    if spec.context_rejection(request) is not None:
        _too_long_for_any(request, ctx)
    return decision.model_copy(update={"model": spec.name, "family": spec.family})


def _too_long_for_any(request: ChatRequest, ctx: RouteContext) -> None:
    """Raise the client's 400 when no configured model could hold ``request`` (`Registry.fits_nowhere`)."""
    if (why := ctx.registry.fits_nowhere(request, ctx.endpoint)) is not None:
        raise RequestError(why, param="messages", code="context_too_long")
