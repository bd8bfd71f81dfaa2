"""The call path from the engine to one provider, recording each attempt.

`ModelCalls` is the seam the resilience layer wraps: it has the same
``chat`` / ``stream`` / ``embed`` shape, so fallbacks, breakers, retries,
limits and budgets compose around it without the engine changing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from modelyard.errors import ProviderError, ProviderTimeoutError
from modelyard.media.limits import check_provider_limits
from modelyard.providers import Provider
from modelyard.types import (
    Attempt,
    ChatRequest,
    ChatResponse,
    Deadline,
    EmbeddingResponse,
    RequestTrace,
    StreamChunk,
    Usage,
)

__all__ = ["CallPath", "ModelCalls"]


class CallPath(Protocol):
    """How the engine calls a concrete model. Implementations record attempts on ``trace``."""

    async def chat(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> ChatResponse: ...

    def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]: ...

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse: ...


class ModelCalls:
    """Direct calls: one attempt per call, bounded by the deadline, cancelled past it."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = providers

    def _timeout(self, provider: Provider, deadline: Deadline, model: str) -> float:
        timeout = deadline.cap(provider.spec.timeout_s)
        if timeout <= 0:
            raise ProviderTimeoutError(
                "request deadline passed before the call could start", model=model, provider=provider.kind
            )
        return timeout

    async def chat(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> ChatResponse:
        provider = self.providers[model]
        request = _within_choices(request, provider)
        check_provider_limits(request, provider.kind, model)  # 400 naming the image part, before any call
        started = time.perf_counter()
        timeout = self._timeout(provider, deadline, model)
        with _recorded(trace, provider, started, purpose, "did not answer", timeout):
            async with asyncio.timeout(timeout):
                response = await provider.chat(request, timeout=timeout)
        response.latency_ms = _ok(trace, provider, started, purpose, response.usage, response.cost_usd)
        return response  # the provider's own fresh object: latency set, not copied

    async def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]:
        provider = self.providers[model]
        request = _within_choices(request, provider)
        check_provider_limits(request, provider.kind, model)  # 400 naming the image part, before any call
        started = time.perf_counter()
        usage = Usage()
        timeout = self._timeout(provider, deadline, model)
        with _recorded(trace, provider, started, purpose, "stream did not finish", timeout):
            async with asyncio.timeout(timeout):
                async for chunk in provider.stream(request, timeout=timeout):
                    if chunk.usage is not None:
                        usage = chunk.usage
                    yield chunk
        _ok(trace, provider, started, purpose, usage, provider.cost(usage))

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        provider = self.providers[model]
        started = time.perf_counter()
        timeout = self._timeout(provider, deadline, model)
        with _recorded(trace, provider, started, "embed", "did not embed", timeout):
            async with asyncio.timeout(timeout):
                response = await provider.embed(texts, timeout=timeout)
        latency = _ok(trace, provider, started, "embed", response.usage, response.cost_usd)
        return response.model_copy(update={"latency_ms": latency})


def _within_choices(request: ChatRequest, provider: Provider) -> ChatRequest:
    """``n`` no larger than the provider's ``max_choices`` (dropped at 1).

    A fallback can hand a request with ``n > 1`` to a model whose protocol has
    no ``n``; it answers fewer choices and the engine fans out the rest.
    """
    if request.n is None or request.n <= provider.max_choices:
        return request
    n = provider.max_choices
    return request.model_copy(update={"n": n if n > 1 else None})


@contextmanager
def _recorded(
    trace: RequestTrace, provider: Provider, started: float, purpose: str, what: str, timeout: float
) -> Iterator[None]:
    """Turn how a call ended into an `Attempt` on the trace; timeouts become `ProviderTimeoutError`."""
    try:
        yield
    except TimeoutError:
        name = provider.spec.name
        exc = ProviderTimeoutError(f"{name!r} {what} within {timeout:.3f}s", model=name, provider=provider.kind)
        _record_error(trace, provider, exc, started, purpose)
        raise exc from None
    except ProviderError as exc:
        _record_error(trace, provider, exc, started, purpose)
        raise
    except (asyncio.CancelledError, GeneratorExit):
        _append(trace, _attempt(provider, "cancelled", started, purpose))
        raise


def _ok(trace: RequestTrace, provider: Provider, started: float, purpose: str, usage: Usage, cost: float) -> float:
    """Record a successful attempt; return its latency in ms."""
    latency = (time.perf_counter() - started) * 1000.0
    _append(
        trace,
        Attempt(
            model=provider.spec.name,
            provider=provider.kind,
            status="ok",
            latency_ms=latency,
            usage=usage,
            cost_usd=cost,
            purpose=purpose,
            simulated=provider.simulated,
        ),
    )
    return latency


def _attempt(provider: Provider, status: str, started: float, purpose: str) -> Attempt:
    return Attempt(
        model=provider.spec.name,
        provider=provider.kind,
        status=status,  # type: ignore[arg-type]
        latency_ms=(time.perf_counter() - started) * 1000.0,
        purpose=purpose,
        simulated=provider.simulated,
    )


def _record_error(trace: RequestTrace, provider: Provider, exc: ProviderError, started: float, purpose: str) -> None:
    attempt = _attempt(provider, "error", started, purpose)
    attempt.error_kind = exc.kind.value
    attempt.error = str(exc)[:500]
    _append(trace, attempt)


def _append(trace: RequestTrace, attempt: Attempt) -> None:
    """Record an attempt that just ended, with its start offset within the request."""
    attempt.start_ms = max(0.0, trace.elapsed_ms() - attempt.latency_ms)
    trace.attempts.append(attempt)
