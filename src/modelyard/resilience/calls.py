"""`ResilientCalls`: the engine's call path with every resilience layer, in one visible order.

For each model tried:  model rate limit → budget reservation → breaker →
retries (backoff, Retry-After, deadline) → hedge → the direct call → settle the
reservation with actual cost. Around that, the fallback chain moves to the
next model when the error's kind says so. It is itself a `CallPath` (so
cascades and councils get it through ``ctx.call``) and an `Availability` (so
routers skip open breakers and models at their limit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

from modelyard.config.resilience import ResilienceSettings
from modelyard.errors import BudgetExceededError, ProviderError, ProviderTimeoutError
from modelyard.providers.calls import CallPath
from modelyard.registry import Registry
from modelyard.resilience.breaker import Admission, BreakerBoard, CircuitOpenError, Outcome, Transition
from modelyard.resilience.budget import Budget, Reservation
from modelyard.resilience.fallback import FallbackRun
from modelyard.resilience.hedge import LatencyWindow, hedged
from modelyard.resilience.limits import Limits
from modelyard.resilience.retry import RetryPolicy
from modelyard.resilience.state.base import StateBackend
from modelyard.types import (
    Attempt,
    ChatRequest,
    ChatResponse,
    Deadline,
    EmbeddingResponse,
    Message,
    RequestTrace,
    StreamChunk,
    Usage,
)

__all__ = ["ResilientCalls"]

T = TypeVar("T")
_Failure = (ProviderError, BudgetExceededError)


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
        self.latency: dict[str, LatencyWindow] = {m: LatencyWindow() for m in settings.hedge}

    # -- Availability ------------------------------------------------------------

    def unavailable_reason(self, model: str) -> str | None:
        if model not in self.breakers.breakers:
            return None
        return self.breakers[model].unavailable_reason() or self.limits.model_unavailable(model)

    # -- at the door ---------------------------------------------------------------

    async def admit(self, request: ChatRequest, trace: RequestTrace) -> None:
        """Tenant rate limit and budget; refresh the shared breaker view for routing."""
        await self.breakers.refresh()
        tokens = request.estimate_input_tokens() + (request.output_token_limit or 0)
        await self.limits.admit_tenant(trace.tenant, tokens)
        await self.budget.check_tenant(trace.tenant)

    # -- CallPath ----------------------------------------------------------------------

    async def chat(
        self,
        model: str,
        request: ChatRequest,
        *,
        trace: RequestTrace,
        deadline: Deadline,
        purpose: str = "answer",
    ) -> ChatResponse:
        run = self._run(model, request, trace)
        while not (run.tried and deadline.expired) and (m := run.next()) is not None:
            try:
                return await self._serve(
                    m,
                    request,
                    trace,
                    deadline,
                    partial(self._chat_once, m, request, trace, deadline, purpose),
                )
            except _Failure as exc:
                run.failed(m, exc)
        raise run.last or ProviderTimeoutError("request deadline passed", model=model)

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        probe = ChatRequest(messages=[Message(role="user", content="\n".join(texts))], max_tokens=1)
        run = self._run(model, probe, trace)
        while not (run.tried and deadline.expired) and (m := run.next()) is not None:
            try:
                return await self._serve(
                    m,
                    probe,
                    trace,
                    deadline,
                    partial(self.inner.embed, m, texts, trace=trace, deadline=deadline),
                )
            except _Failure as exc:
                run.failed(m, exc)
        raise run.last or ProviderTimeoutError("request deadline passed", model=model)

    async def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline
    ) -> AsyncIterator[StreamChunk]:
        """Fall back freely until the first token; after it, a failure ends the stream with the error."""
        run = self._run(model, request, trace)
        while not (run.tried and deadline.expired) and (m := run.next()) is not None:
            tokens = _tokens(request)
            mark = len(trace.attempts)
            try:
                reservation = await self._reserve(m, request, trace, deadline, tokens)
            except _Failure as exc:
                run.failed(m, exc)
                continue
            try:
                chunks, first, admission = await self._open_stream(m, request, trace, deadline)
            except _Failure as exc:
                await asyncio.shield(self._settle(m, reservation, tokens, trace.attempts[mark:]))
                run.failed(m, exc)
                continue
            breaker = self.breakers[m]
            try:
                for chunk in first:
                    yield chunk
                async for chunk in chunks:
                    yield chunk
            except ProviderError as exc:
                self._note(trace, await breaker.record(breaker.outcome_of(exc.kind), admission))
                trace.event(
                    "stream_error",
                    f"{m} failed mid-stream ({exc.kind.value}); the stream ends with an error",
                    model=m,
                    error_kind=exc.kind.value,
                )
                raise
            except BaseException:
                await asyncio.shield(breaker.record("neutral", admission))
                raise
            else:
                self._note(trace, await breaker.record("success", admission))
            finally:
                await _aclose(chunks)
                await asyncio.shield(self._settle(m, reservation, tokens, trace.attempts[mark:]))
            return
        raise run.last or ProviderTimeoutError("request deadline passed", model=model)

    # -- the layers --------------------------------------------------------------------

    def _run(self, model: str, request: ChatRequest, trace: RequestTrace) -> FallbackRun:
        return FallbackRun(
            self.settings,
            self.registry,
            self,
            model,
            request,
            trace,
            worst_case=lambda m: self.worst_case(m, request),
        )

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
        self, model: str, reservation: Reservation, tokens: int, attempts: list[Attempt]
    ) -> None:
        await self.budget.settle(reservation, sum(a.cost_usd for a in attempts))
        used = sum(a.usage.total_tokens for a in attempts if a.model == model)
        await self.limits.settle_model_tokens(model, tokens, used)

    async def _serve(
        self,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        deadline: Deadline,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        tokens = _tokens(request)
        reservation = await self._reserve(model, request, trace, deadline, tokens)
        mark = len(trace.attempts)
        try:
            return await self._attempts(model, trace, deadline, call)
        finally:
            settle = self._settle(model, reservation, tokens, trace.attempts[mark:])
            if self.state.in_process and not reservation.keys:
                await settle  # cannot suspend, so cannot be cut short: no shield (a task and a loop turn)
            else:
                await asyncio.shield(settle)

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

    async def _attempts(
        self, model: str, trace: RequestTrace, deadline: Deadline, call: Callable[[], Awaitable[T]]
    ) -> T:
        breaker = self.breakers[model]
        attempt = 0
        while True:
            attempt += 1
            admission = await self._admit(model, trace)
            try:
                result = await call()
            except ProviderError as exc:
                self._note(trace, await breaker.record(breaker.outcome_of(exc.kind), admission))
                delay = self.retry.next_delay(exc, attempt, deadline)
                if delay is None:
                    raise
                self._retry_event(trace, model, attempt, exc, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await asyncio.shield(breaker.record("neutral", admission))
                raise
            answered_by = getattr(result, "model", model)
            outcome: Outcome = "success" if answered_by == model else "neutral"  # a hedge answered instead
            self._note(trace, await breaker.record(outcome, admission))
            return result

    async def _open_stream(
        self, model: str, request: ChatRequest, trace: RequestTrace, deadline: Deadline
    ) -> tuple[AsyncIterator[StreamChunk], list[StreamChunk], Admission]:
        """Start the stream and read up to the first real chunk, retrying as a call would."""
        breaker = self.breakers[model]
        attempt = 0
        while True:
            attempt += 1
            admission = await self._admit(model, trace)
            chunks = self.inner.stream(model, request, trace=trace, deadline=deadline)
            first: list[StreamChunk] = []
            try:
                async for chunk in chunks:
                    first.append(chunk)
                    if chunk.text or chunk.tool_calls or chunk.finish_reason:
                        break
            except ProviderError as exc:
                await _aclose(chunks)
                self._note(trace, await breaker.record(breaker.outcome_of(exc.kind), admission))
                delay = self.retry.next_delay(exc, attempt, deadline)
                if delay is None:
                    raise
                self._retry_event(trace, model, attempt, exc, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await _aclose(chunks)
                await asyncio.shield(breaker.record("neutral", admission))
                raise
            return chunks, first, admission

    async def _chat_once(
        self, model: str, request: ChatRequest, trace: RequestTrace, deadline: Deadline, purpose: str
    ) -> ChatResponse:
        hedge = self.settings.hedge.get(model)
        alt = hedge.alternative if hedge is not None else None
        delay = self.latency[model].hedge_delay_s(hedge) if hedge is not None else None
        if (
            alt is None
            or delay is None
            or purpose != "answer"
            or delay >= deadline.remaining()
            or self.registry.rejection(self.registry.get(alt), request, self) is not None
        ):
            response = await self.inner.chat(model, request, trace=trace, deadline=deadline, purpose=purpose)
            if model in self.latency:
                self.latency[model].add(response.latency_ms)
            return response
        mark = len(trace.attempts)

        def on_hedge() -> None:
            trace.event(
                "hedge",
                f"{model} slower than {delay * 1000:.0f} ms; also asking {alt}",
                model=model,
                alternative=alt,
            )

        try:
            response, hedge_won = await hedged(
                lambda: self.inner.chat(model, request, trace=trace, deadline=deadline, purpose=purpose),
                lambda: self.inner.chat(alt, request, trace=trace, deadline=deadline, purpose="hedge"),
                delay,
                on_hedge=on_hedge,
            )
        finally:
            self._account_cancelled(trace, mark, request)
        if hedge_won:
            trace.event("hedge_won", f"{alt} answered before {model}", model=model, alternative=alt)
        else:
            self.latency[model].add(response.latency_ms)
        return response

    def _account_cancelled(self, trace: RequestTrace, mark: int, request: ChatRequest) -> None:
        """A cancelled racer was still sent the prompt: charge its input tokens (an estimate)."""
        for attempt in trace.attempts[mark:]:
            if attempt.status == "cancelled" and attempt.cost_usd == 0.0:
                usage = Usage(input_tokens=request.estimate_input_tokens())
                attempt.usage = usage
                attempt.cost_usd = self.registry.get(attempt.model).price.cost(usage)
                attempt.error = "cancelled: lost the hedge race; input cost estimated"

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
    return request.estimate_input_tokens() + (request.output_token_limit or 0)


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()
