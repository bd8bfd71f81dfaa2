"""Fallback chains: which model to try next when one fails, and whether to.

A chain belongs to a model or to a router. For a failed model the chain is
the model's own (followed transitively: B's chain after B), else that of the
innermost router on the decision path that has one, else that of the
requested name. Entries are models or ``family:<name>`` (that family's
models, cheapest first). Two cases widen the chain on their own:
``context_too_long`` adds same-family models with a larger context window,
and a budget refusal with ``on_exceeded: cheaper`` adds cheaper same-family
models. Every candidate must still pass the registry's checks (privacy,
modality, context, availability) before it is tried.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from modelyard.config.models import Endpoint
from modelyard.config.resilience import ResilienceSettings
from modelyard.errors import BudgetExceededError, ErrorKind, ModelyardError, ProviderError
from modelyard.registry import Availability, Registry
from modelyard.types import ChatRequest, Family, RequestTrace

__all__ = ["FallbackRun"]

_FAMILIES = frozenset(f.value for f in Family)


class FallbackRun:
    """The candidates for one call, consumed in order as each fails."""

    def __init__(
        self,
        settings: ResilienceSettings,
        registry: Registry,
        availability: Availability,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        *,
        worst_case: Callable[[str], float] | None = None,
        endpoint: Endpoint = "chat",
    ) -> None:
        self._settings = settings
        self._endpoint = endpoint  # candidates must serve the call's kind (an embedding needs an embedder)
        self._registry = registry
        self._availability = availability
        self._request = request
        self._trace = trace
        self.first = model
        self.owner = self._owner(model, trace)
        self.kinds = settings.fallback_kinds(self.owner) if self.owner else set(settings.fallback_on)
        self._chain: deque[str] | None = None  # expanded on the first failure: most calls never need it
        self.tried: list[str] = []
        self.last: ModelyardError | None = None
        self._worst = worst_case

    def _owner(self, model: str, trace: RequestTrace) -> str | None:
        path = trace.decision.path if trace.decision is not None else []
        for name in (model, *reversed(path), trace.requested_model):
            if name in self._settings.fallbacks:
                return name
        return None

    def _queue(self) -> deque[str]:
        if self._chain is None:
            self._chain = deque(self._expand(self.owner, {self.first}) if self.owner else [])
        return self._chain

    def _expand(self, name: str, seen: set[str]) -> list[str]:
        out: list[str] = []
        chain = self._settings.fallbacks.get(name)
        for alt in chain.to if chain is not None else []:
            family = alt.removeprefix("family:")
            if family in _FAMILIES:
                members = sorted(
                    self._registry.of_family(Family(family)),
                    key=lambda s: (self._registry.estimate_cost(s, self._request), s.name),
                )
                names = [s.name for s in members if s.name not in seen]
                seen.update(names)
                out.extend(names)
                continue
            if alt in seen:
                continue
            seen.add(alt)
            out.append(alt)
            out.extend(self._expand(alt, seen))
        return out

    def triggers(self, exc: ModelyardError) -> bool:
        if isinstance(exc, BudgetExceededError):
            return self._settings.budgets.on_exceeded == "cheaper"
        return isinstance(exc, ProviderError) and exc.kind in self.kinds

    def failed(self, model: str, exc: ModelyardError) -> None:
        """Note a failure; widen the queue for context-too-long and budget refusals."""
        self.last = exc
        self.tried.append(model)
        spec = self._registry.get(model)
        queue = self._queue()
        known = {*self.tried, *queue}
        if isinstance(exc, ProviderError) and exc.kind is ErrorKind.CONTEXT_TOO_LONG:
            bigger = [
                s for s in self._registry.of_family(spec.family) if s.context_window > spec.context_window
            ]
            queue.extend(s.name for s in sorted(bigger, key=lambda s: s.context_window) if s.name not in known)
        elif isinstance(exc, BudgetExceededError):
            members = sorted(
                self._registry.of_family(spec.family),
                key=lambda s: (self._registry.estimate_cost(s, self._request), s.name),
            )
            queue.extend(s.name for s in members if s.name not in known)

    def _skip(self, model: str, failed: str) -> str | None:
        spec = self._registry.get(model)
        exc = self.last
        overflowed = isinstance(exc, ProviderError) and exc.kind is ErrorKind.CONTEXT_TOO_LONG
        if overflowed and spec.context_window <= self._registry.get(failed).context_window:
            return "context window no larger than the one that overflowed"
        refused = isinstance(exc, BudgetExceededError) and self._worst is not None
        if refused and self._worst is not None and not self._worst(model) < self._worst(failed):
            return "not cheaper than the model the budget refused"
        return self._registry.rejection(spec, self._request, self._availability, endpoint=self._endpoint)

    def next(self) -> str | None:
        """The next model to try, recording why others were passed; None when the chain is spent."""
        if not self.tried:
            return self.first
        exc = self.last
        if exc is None or not self.triggers(exc):
            return None
        failed = self.tried[-1]
        queue = self._queue()
        while queue:
            model = queue.popleft()
            if model in self.tried:
                continue
            why = self._skip(model, failed)
            if why is not None:
                self._trace.event("fallback_skip", f"{model}: {why}", model=model, reason=why)
                continue
            kind = exc.kind.value if isinstance(exc, ProviderError) else "budget"
            self._trace.event(
                "fallback",
                f"{failed} failed ({kind}); falling back to {model}",
                from_model=failed,
                to_model=model,
                error_kind=kind,
                chain=self.owner,
            )
            return model
        return None
