"""`ResilientCalls`: the engine's call path with every resilience layer, in one visible order.

One driver serves chat, embeddings and streams alike. For each model tried:

    model rate limit → budget reservation → breaker → attempt, retried
    (backoff, Retry-After, deadline) → the answer is committed → breaker
    outcome and settled reservation once the answer is complete

and around that, the fallback chain moves to the next model when the error's
kind says so. What differs per kind is only the *attempt* — a callable that
takes a model name and returns something with a ``model`` (who answered):

- chat: the (hedged) call; committed when the response arrives;
- embed: the call; committed when the vectors arrive;
- stream: opening the stream and reading up to its first real chunk;
  committed then — after that a failure ends the stream with the error,
  since tokens may already be on their way to the client.

The driver hands back a `Lease` (the committed answer, the breaker admission
and the budget reservation it still holds); chat and embed release it at once,
a stream when it ends. `ResilientCalls` is itself a `CallPath` (so cascades and
councils get it through ``ctx.call``) and an `Availability` (so routers skip
open breakers and models at their limit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from modelyard.config.models import Endpoint
from modelyard.config.resilience import ResilienceSettings
from modelyard.errors import BudgetExceededError, ProviderError, ProviderTimeoutError
from modelyard.providers.calls import CallPath
from modelyard.registry import Registry
from modelyard.resilience.breaker import Admission, BreakerBoard, CircuitOpenError, Outcome, Transition
from modelyard.resilience.budget import Budget, Reservation
from modelyard.resilience.fallback import FallbackRun
from modelyard.resilience.hedge import Hedger
from modelyard.resilience.limits import Limits
from modelyard.resilience.retry import RetryPolicy
from modelyard.resilience.state.base import StateBackend
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    Deadline,
    EmbeddingResponse,
    Message,
    RequestTrace,
    StreamChunk,
)

__all__ = ["Lease", "OpenStream", "ResilientCalls"]

_Failure = (ProviderError, BudgetExceededError)


class _Answer(Protocol):
    @property
    def model(self) -> str: ...


A = TypeVar("A", bound=_Answer)


@dataclass(slots=True)
class OpenStream:
    """A stream read up to its first real chunk (text, a tool call or a finish reason)."""

    model: str
    first: list[StreamChunk]
    rest: AsyncIterator[StreamChunk]
    latency_ms: float = 0.0  # to the first real chunk

    async def aclose(self) -> None:
        closer = getattr(self.rest, "aclose", None)
        if closer is not None:
            await closer()


@dataclass(slots=True)
class Lease(Generic[A]):
    """A committed answer from ``model`` and what it holds until the answer is complete."""

    model: str
    answer: A
    admission: Admission
    reservation: Reservation
    tokens: int
    mark: int  # index of this model's first attempt on the trace

    @property
    def outcome(self) -> Outcome:
        """For the breaker: success, or neutral when someone else (a hedge) answered."""
        return "success" if self.answer.model == self.model else "neutral"


class ResilientCalls:
    """A `CallPath` and an `Availability` over an inner direct call path."""

    def __init__(
        self,
        inner: CallPath,
        settings: ResilienceSettings,
        registry: Registry,
        state: StateBackend,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.settings = settings
        self.registry = registry
        self.state = state
        self.breakers = BreakerBoard(settings, registry.names(), state, clock=clock)
        self.limits = Limits(settings.limits, state)
        self.budget = Budget(settings.budgets, state, clock=clock)
        self.retry = retry or RetryPolicy(settings.retry)
        self.hedge = Hedger(settings.hedge, registry, self)

    # -- Availability ------------------------------------------------------------

    def unavailable_reason(self, model: str) -> str | None:
        if model not in self.breakers.breakers:
            return None
        return self.breakers[model].unavailable_reason() or self.limits.model_unavailable(model)

    def retry_in(self, model: str) -> float | None:
        """Seconds until ``model`` is back in rotation (breaker cool-down, rate-limit refill); None if it is in."""
        if model not in self.breakers.breakers:
            return None
        waits = [w for w in (self.breakers[model].retry_in(), self.limits.model_retry_in(model)) if w is not None]
        return max(waits) if waits else None

    # -- at the door ---------------------------------------------------------------

    async def admit(self, request: ChatRequest, trace: RequestTrace) -> None:
        """Tenant rate limit and budget; refresh the shared breaker view for routing."""
        await self.breakers.refresh()
        await self.limits.admit_tenant(trace.tenant, _tokens(request))
        await self.budget.check_tenant(trace.tenant)

    # -- CallPath: three kinds of attempt, one driver ------------------------------------

    async def chat(
        self,
        model: str,
        request: ChatRequest,
        *,
        trace: RequestTrace,
        deadline: Deadline,
        purpose: str = "answer",
    ) -> ChatResponse:
        async def call(m: str, p: str) -> ChatResponse:
            return await self.inner.chat(m, request, trace=trace, deadline=deadline, purpose=p)

        async def attempt(m: str) -> ChatResponse:
            return await self.hedge(m, request, trace, deadline, call, kind="chat", purpose=purpose)

        return await self._complete(model, request, trace, deadline, attempt)

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        probe = ChatRequest(messages=[Message(role="user", content="\n".join(texts))], max_tokens=1)

        async def attempt(m: str) -> EmbeddingResponse:
            return await self.inner.embed(m, texts, trace=trace, deadline=deadline)

        return await self._complete(model, probe, trace, deadline, attempt, endpoint="embeddings")

    async def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]:
        """Fall back (and hedge) freely until the first real chunk; after it, a failure ends the stream.

        ``trace.answered_by`` names the model that answers before the first chunk is yielded,
        so a caller can put it in headers and in every chunk.
        """

        async def start(m: str, p: str) -> OpenStream:
            return await self._open_stream(m, request, trace, deadline, p)

        async def attempt(m: str) -> OpenStream:
            return await self.hedge(
                m, request, trace, deadline, start, kind="stream", purpose=purpose, discard=OpenStream.aclose
            )

        lease = await self._drive(model, request, trace, deadline, attempt)
        opened = lease.answer
        trace.answered_by = opened.model
        outcome: Outcome = "neutral"  # cancelled or closed early: says nothing about the model
        try:
            for chunk in opened.first:
                yield chunk
            async for chunk in opened.rest:
                yield chunk
            outcome = lease.outcome
        except ProviderError as exc:
            if opened.model == lease.model:  # a hedge's failure is not the routed model's
                outcome = self.breakers[lease.model].outcome_of(exc.kind)
            trace.event(
                "stream_error",
                f"{opened.model} failed mid-stream ({exc.kind.value}); the stream ends with an error",
                model=opened.model,
                error_kind=exc.kind.value,
            )
            raise
        finally:
            await opened.aclose()
            await asyncio.shield(self._release(lease, trace, outcome))

    # -- the driver ---------------------------------------------------------------------

    async def _complete(
        self,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        deadline: Deadline,
        attempt: Callable[[str], Awaitable[A]],
        *,
        endpoint: Endpoint = "chat",
    ) -> A:
        """Drive ``attempt`` to an answer and release its lease at once (chat, embed)."""
        lease = await self._drive(model, request, trace, deadline, attempt, endpoint=endpoint)
        await self._release(lease, trace, lease.outcome)
        return lease.answer

    async def _drive(
        self,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        deadline: Deadline,
        attempt: Callable[[str], Awaitable[A]],
        *,
        endpoint: Endpoint = "chat",
    ) -> Lease[A]:
        """Fallback chain × (limit, reservation, breaker, retries) until one model commits an answer.

        ``endpoint``: the kind of call, so fallback candidates are checked for it (embeddings need
        a model that produces embeddings, not one that answers chat).
        """
        run = FallbackRun(
            self.settings,
            self.registry,
            self,
            model,
            request,
            trace,
            worst_case=lambda m: self.worst_case(m, request),
            endpoint=endpoint,
        )
        while not (run.tried and deadline.expired) and (m := run.next()) is not None:
            tokens = _tokens(request)
            try:
                reservation = await self._reserve(m, request, trace, deadline, tokens)
            except _Failure as exc:
                run.failed(m, exc)
                continue
            mark = len(trace.attempts)
            try:
                answer, admission = await self._retrying(m, trace, deadline, attempt)
            except BaseException as exc:
                await self._settle(m, reservation, tokens, trace, mark)
                if not isinstance(exc, _Failure):
                    raise
                run.failed(m, exc)
                continue
            return Lease(m, answer, admission, reservation, tokens, mark)
        raise run.last or ProviderTimeoutError("request deadline passed", model=model)

    async def _retrying(
        self, model: str, trace: RequestTrace, deadline: Deadline, attempt: Callable[[str], Awaitable[A]]
    ) -> tuple[A, Admission]:
        """Pass the breaker and make the attempt, retrying per policy; failures are recorded."""
        breaker = self.breakers[model]
        tries = 0
        while True:
            tries += 1
            admission = await self._admit(model, trace)
            try:
                return await attempt(model), admission
            except ProviderError as exc:
                self._note(trace, await breaker.record(breaker.outcome_of(exc.kind), admission))
                delay = self.retry.next_delay(exc, tries, deadline)
                if delay is None:
                    raise
                self._retry_event(trace, model, tries, exc, delay)
                await asyncio.sleep(delay)
            except BaseException:
                await asyncio.shield(breaker.record("neutral", admission))
                raise

    async def _release(self, lease: Lease[A], trace: RequestTrace, outcome: Outcome) -> None:
        """The answer is complete: tell the breaker how it went, settle the reservation."""
        try:
            self._note(trace, await self.breakers[lease.model].record(outcome, lease.admission))
        finally:
            await self._settle(lease.model, lease.reservation, lease.tokens, trace, lease.mark)

    # -- the layers --------------------------------------------------------------------

    def worst_case(self, model: str, request: ChatRequest) -> float:
        """The most one call to ``model`` can cost, its hedge included."""
        usd = self.budget.worst_case(self.registry.get(model), request)
        hedge = self.settings.hedge.get(model)
        if hedge is not None:
            usd += self.budget.worst_case(self.registry.get(hedge.alternative), request)
        return usd

    async def _reserve(
        self, model: str, request: ChatRequest, trace: RequestTrace, deadline: Deadline, tokens: int
    ) -> Reservation:
        await self.limits.acquire_model(model, tokens, deadline)
        try:
            return await self.budget.reserve(model, self.worst_case(model, request), request, trace)
        except BudgetExceededError as exc:
            trace.event("budget", str(exc), model=model)
            await self.limits.settle_model_tokens(model, tokens, 0)
            raise

    async def _settle(
        self, model: str, reservation: Reservation, tokens: int, trace: RequestTrace, mark: int
    ) -> None:
        """Replace the reservation by what the attempts since ``mark`` cost; survives cancellation."""
        attempts = trace.attempts[mark:]
        used = sum(a.usage.total_tokens for a in attempts if a.model == model)

        async def settle() -> None:
            await self.budget.settle(reservation, sum(a.cost_usd for a in attempts))
            await self.limits.settle_model_tokens(model, tokens, used)

        if self.state.in_process and not reservation.keys:
            await settle()  # cannot suspend, so cannot be cut short: no shield (a task and a loop turn)
        else:
            await asyncio.shield(settle())

    async def _admit(self, model: str, trace: RequestTrace) -> Admission:
        breaker = self.breakers[model]
        admission = await breaker.admit()
        if not admission.allowed:
            reason = breaker.snapshot.get("reason", "") if breaker.snapshot else ""
            trace.event("breaker_reject", f"{model}: breaker {admission.state} ({reason})", model=model)
            raise CircuitOpenError(
                f"circuit breaker for {model!r} is {admission.state} ({reason}); not called",
                model=model,
                retry_after=admission.retry_in,
            )
        return admission

    async def _open_stream(
        self, model: str, request: ChatRequest, trace: RequestTrace, deadline: Deadline, purpose: str
    ) -> OpenStream:
        """The stream attempt: start it and read up to the first real chunk."""
        started = time.perf_counter()
        chunks = self.inner.stream(model, request, trace=trace, deadline=deadline, purpose=purpose)
        opened = OpenStream(model, [], chunks)
        try:
            async for chunk in chunks:
                opened.first.append(chunk)
                if chunk.text or chunk.tool_calls or chunk.finish_reason:
                    break
        except BaseException:
            await opened.aclose()
            raise
        opened.latency_ms = (time.perf_counter() - started) * 1000.0
        return opened

    # -- trace notes -----------------------------------------------------------------------

    @staticmethod
    def _note(trace: RequestTrace, moved: Transition | None) -> None:
        if moved is not None:
            trace.event(
                "breaker",
                f"{moved.model}: {moved.old} → {moved.new} ({moved.reason})",
                model=moved.model,
                old=moved.old,
                new=moved.new,
                reason=moved.reason,
            )

    @staticmethod
    def _retry_event(trace: RequestTrace, model: str, attempt: int, exc: ProviderError, delay: float) -> None:
        trace.event(
            "retry",
            f"{model} attempt {attempt} failed ({exc.kind.value}); retrying in {delay * 1000:.0f} ms",
            model=model,
            attempt=attempt,
            error_kind=exc.kind.value,
            delay_ms=round(delay * 1000, 1),
        )


def _tokens(request: ChatRequest) -> int:
    """Tokens a request may use: its prompt, and its output limit once per choice (``n``)."""
    return request.estimate_input_tokens() + (request.output_token_limit or 0) * request.choice_count
