"""The `Router` seam: request (+ context) → `Decision`.

Most routers only *decide*. Cascades and councils also *execute*: they call
models (through the same resilient call path as everything else, handed to
them as ``ctx.call``) and return the answer with their decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from modelyard.config.models import Endpoint
from modelyard.config.routers import RouterSpec
from modelyard.registry import Availability, Registry, Selection, Strategy
from modelyard.types import ChatRequest, ChatResponse, Deadline, Decision, Family, RequestTrace, Target

__all__ = [
    "BuildContext",
    "ExecutingRouter",
    "Execution",
    "ModelCaller",
    "RouteContext",
    "Router",
]


class ModelCaller(Protocol):
    """Calls one concrete model through the resilience layer, recording the attempt."""

    def __call__(
        self, model: str, request: ChatRequest, *, purpose: str = "answer"
    ) -> Awaitable[ChatResponse]: ...


@dataclass
class RouteContext:
    """What a router may consult while deciding one request."""

    registry: Registry
    availability: Availability
    deadline: Deadline
    trace: RequestTrace
    strategy: Strategy = "cheapest"
    call: ModelCaller | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint the request came through (from the trace); targets must serve it (`ModelSpec.capabilities`)."""
        return "embeddings" if self.trace.endpoint == "embeddings" else "chat"

    def select(self, family: Family, request: ChatRequest) -> Selection:
        return self.registry.select(
            family, request, strategy=self.strategy, availability=self.availability, endpoint=self.endpoint
        )

    def is_available(self, model: str) -> bool:
        spec = self.registry.get(model)
        return spec.enabled and self.availability.unavailable_reason(model) is None

    def family_available(self, family: Family) -> bool:
        return any(self.is_available(s.name) for s in self.registry.of_family(family))


@dataclass
class BuildContext:
    """What a router needs once, at build time (not per request)."""

    registry: Registry
    config_dir: Path
    routers: dict[str, RouterSpec]
    encoder_factory: Callable[[], Any] | None = None


class Router(ABC):
    """Decides where a request goes. Build one from its YAML spec with `from_spec`."""

    kind: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Any, build: BuildContext) -> Router:
        """Build from a validated `RouterSpec` subclass."""

    @abstractmethod
    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        """Choose a target. Must not call models (executing routers do that in `execute`)."""

    def decision(
        self,
        target: Target | str,
        reason: str,
        *,
        confidence: float | None = None,
        **details: Any,
    ) -> Decision:
        """Shorthand for a one-hop decision made by this router."""
        if isinstance(target, str):
            target = Target.parse(target)
        return Decision(
            target=target,
            router=self.name,
            reason=reason,
            confidence=confidence,
            path=[self.name],
            details=details,
        )


@dataclass
class Execution:
    """An executing router's result: the answer and how it was reached."""

    response: ChatResponse
    decision: Decision
    details: dict[str, Any] = field(default_factory=dict)


class ExecutingRouter(Router):
    """A router that produces the answer itself (cascade, council)."""

    @abstractmethod
    async def execute(self, request: ChatRequest, ctx: RouteContext) -> Execution:
        """Call models via ``ctx.call`` and return the answer."""

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        """Without executing, an executing router names itself as the target."""
        return self.decision(Target(kind="router", name=self.name), f"{self.kind} router runs the request")
