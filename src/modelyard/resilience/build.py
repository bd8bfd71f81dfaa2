"""Assemble the resilience layer from config, and the engine-facing facade.

`Resilience` is what the engine holds: the call path and availability it
routes through, the tenant check at the door, and the safe default — the
honest apology returned when no model could answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.config import Config
from modelyard.config.resilience import ResilienceSettings
from modelyard.errors import ErrorKind, ModelyardError, NoModelFitsError, ProviderError
from modelyard.providers import Provider
from modelyard.providers.calls import ModelCalls
from modelyard.registry import Registry
from modelyard.resilience.calls import ResilientCalls
from modelyard.resilience.state import StateBackend, create_state
from modelyard.types import ChatRequest, ChatResponse, Choice, Decision, RequestTrace, Target

__all__ = ["SAFE_DEFAULT_MODEL", "Resilience", "build_resilience"]

SAFE_DEFAULT_MODEL = "modelyard/safe-default"

#: The caller's own request is at fault: say so instead of apologising.
_CALLER_FAULT = {ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG, ErrorKind.CONTENT_FILTERED}


class Resilience:
    def __init__(self, settings: ResilienceSettings, calls: ResilientCalls, state: StateBackend) -> None:
        self.settings = settings
        self.calls = calls
        self.state = state

    @property
    def availability(self) -> ResilientCalls:
        return self.calls

    async def admit(self, request: ChatRequest, trace: RequestTrace) -> None:
        """Raise `RateLimitExceededError` (429) or `BudgetExceededError` (402) for the tenant."""
        await self.calls.admit(request, trace)

    def wants_safe_default(self, exc: ModelyardError) -> bool:
        """Apologise for upstream failures and for every model being out of rotation, nothing else."""
        if not self.settings.safe_default.enabled:
            return False
        if isinstance(exc, ProviderError):
            return exc.kind not in _CALLER_FAULT
        if isinstance(exc, NoModelFitsError):
            return any(self.calls.unavailable_reason(m) for m in exc.rejected if m in self.calls.registry)
        return False

    def retry_after(self, exc: ModelyardError) -> float | None:
        """Seconds until ``exc``'s request can succeed, when this layer knows: a family whose models are
        out of rotation (open breakers, rate limits) is back when the first of them is. None otherwise."""
        if exc.retry_after is not None:
            return exc.retry_after
        if isinstance(exc, NoModelFitsError):
            waits = [w for m in exc.rejected if m in self.calls.registry and (w := self.calls.retry_in(m)) is not None]
            return min(waits) if waits else None
        return None

    def safe_default(
        self, exc: ModelyardError, trace: RequestTrace, decision: Decision | None
    ) -> tuple[ChatResponse, Decision]:
        """The apology, marked ``finish_reason: safe_default``; the trace says why.

        A request for ``n > 1`` choices (``trace.n``) gets the apology as each of its
        ``n`` choices, so a client reading ``choices[n - 1]`` still finds one.
        """
        trace.status = "safe_default"
        trace.error = str(exc)[:500]
        trace.error_kind = exc.kind.value if isinstance(exc, ProviderError) else type(exc).__name__
        trace.answered_by = SAFE_DEFAULT_MODEL
        trace.event("safe_default", f"no model could answer: {str(exc)[:200]}")
        response = ChatResponse(
            model=SAFE_DEFAULT_MODEL,
            provider="modelyard",
            text=self.settings.safe_default.message,
            finish_reason="safe_default",
            choices=[
                Choice(index=i, text=self.settings.safe_default.message, finish_reason="safe_default")
                for i in range(trace.n)
            ]
            if trace.n > 1
            else [],
        )
        decision = decision or Decision(
            target=Target(kind="model", name=SAFE_DEFAULT_MODEL),
            router="safe-default",
            reason="every path failed; answered with the configured safe default",
        )
        return response, decision

    async def aclose(self) -> None:
        try:
            await self.calls.breakers.aclose()  # write the breakers' pending successes (shared state)
        finally:
            await self.state.aclose()

    def __repr__(self) -> str:
        return f"Resilience(state={self.state!r})"


def build_resilience(
    config: Config,
    providers: Mapping[str, Provider],
    registry: Registry,
    *,
    state: StateBackend | None = None,
) -> Resilience:
    """The configured layer over direct calls to ``providers``."""
    settings = config.resilience
    backend = state or create_state(settings.state)
    calls = ResilientCalls(ModelCalls(providers), settings, registry, backend)
    return Resilience(settings, calls, backend)
