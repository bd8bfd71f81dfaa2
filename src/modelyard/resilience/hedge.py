"""Hedged requests: if the first call is slow, race a second one and keep the first good answer.

The hedge delay is a latency quantile of the model's recent successful calls
(so only the slow tail is hedged), or a fixed ``after_ms`` until enough calls
were seen. The loser is cancelled — its connection closed — and both calls
stay on the trace so both costs are accounted.

Chat calls and stream openings are hedged alike: a stream "answers" when its
first real chunk arrives, so a stream whose first token is slow is raced the
same way (and its delay is learned from time to first chunk, not total time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from modelyard.config.resilience import HedgeSettings
from modelyard.errors import ProviderError
from modelyard.registry import Availability, Registry
from modelyard.types import ChatRequest, Deadline, RequestTrace, Usage

__all__ = ["Hedger", "LatencyWindow", "hedged"]

T = TypeVar("T")


class _Timed(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def latency_ms(self) -> float: ...


R = TypeVar("R", bound=_Timed)


class LatencyWindow:
    """The last ``size`` successful latencies of one model, in milliseconds."""

    def __init__(self, size: int = 256) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, latency_ms: float) -> None:
        self._values.append(latency_ms)

    def __len__(self) -> int:
        return len(self._values)

    def quantile(self, q: float) -> float:
        ordered = sorted(self._values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def hedge_delay_s(self, settings: HedgeSettings) -> float:
        if settings.after_quantile is not None and len(self) >= settings.min_samples:
            return self.quantile(settings.after_quantile) / 1000.0
        return settings.after_ms / 1000.0


async def hedged(
    primary: Callable[[], Awaitable[T]],
    secondary: Callable[[], Awaitable[T]],
    delay_s: float,
    *,
    on_hedge: Callable[[], None] | None = None,
    discard: Callable[[T], Awaitable[None]] | None = None,
) -> tuple[T, bool]:
    """Run ``primary``; after ``delay_s`` also ``secondary``. Return (first good answer, hedge won?).

    A failure of one does not end the race while the other still runs; when
    both fail, the primary's error is raised. The loser is cancelled; if it had
    already answered (both finished together), ``discard`` is given its answer
    (an open stream must be closed).
    """
    first: asyncio.Task[T] = asyncio.ensure_future(primary())
    tasks: dict[asyncio.Task[T], bool] = {first: False}
    winner: asyncio.Task[T] | None = None
    try:
        done, _ = await asyncio.wait({first}, timeout=delay_s)
        if not done:
            if on_hedge is not None:
                on_hedge()
            tasks[asyncio.ensure_future(secondary())] = True
        errors: dict[bool, BaseException] = {}
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: tasks[t]):  # the primary first when both finished
                exc = task.exception()
                if exc is None:
                    winner = task
                    return task.result(), tasks[task]
                if not isinstance(exc, ProviderError):
                    raise exc
                errors[tasks[task]] = exc
        raise errors.get(False) or errors[True]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if discard is not None:
            for task in tasks:
                if task is not winner and not task.cancelled() and task.exception() is None:
                    await discard(task.result())


class Hedger:
    """Hedges the attempts of models that have a ``hedge`` entry: chat calls and stream openings.

    The answer's ``model`` says who answered: the hedge alternative when it won.
    Only ``purpose: answer`` attempts are hedged, and only when the alternative
    can serve the request and the hedge delay leaves time before the deadline.
    """

    def __init__(self, hedges: Mapping[str, HedgeSettings], registry: Registry, availability: Availability) -> None:
        self.hedges = hedges
        self.registry = registry
        self.availability = availability
        #: (model, kind) → recent latencies of unhedged answers; kind "chat" (whole call) or "stream" (first chunk)
        self.latency: dict[tuple[str, str], LatencyWindow] = {}

    async def __call__(
        self,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        deadline: Deadline,
        start: Callable[[str, str], Awaitable[R]],
        *,
        kind: str,
        purpose: str = "answer",
        discard: Callable[[R], Awaitable[None]] | None = None,
    ) -> R:
        """``start(model, purpose)`` once, or raced against ``start(alternative, "hedge")`` after the delay."""
        hedge = self.hedges.get(model)
        if hedge is None:
            return await start(model, purpose)
        window = self.latency.setdefault((model, kind), LatencyWindow())
        alt = hedge.alternative
        delay = window.hedge_delay_s(hedge)
        if (
            purpose != "answer"
            or delay >= deadline.remaining()
            or self.registry.rejection(self.registry.get(alt), request, self.availability) is not None
        ):
            answer = await start(model, purpose)
            window.add(answer.latency_ms)
            return answer
        mark = len(trace.attempts)

        def on_hedge() -> None:
            trace.event(
                "hedge",
                f"{model} slower than {delay * 1000:.0f} ms; also asking {alt}",
                model=model,
                alternative=alt,
            )

        try:
            answer, hedge_won = await hedged(
                lambda: start(model, purpose),
                lambda: start(alt, "hedge"),
                delay,
                on_hedge=on_hedge,
                discard=discard,
            )
        finally:
            self._account_cancelled(trace, mark, request)
        if hedge_won:
            trace.event("hedge_won", f"{alt} answered before {model}", model=model, alternative=alt)
        else:
            window.add(answer.latency_ms)
        return answer

    def _account_cancelled(self, trace: RequestTrace, mark: int, request: ChatRequest) -> None:
        """A cancelled racer was still sent the prompt: charge its input tokens (an estimate)."""
        for attempt in trace.attempts[mark:]:
            if attempt.status == "cancelled" and attempt.cost_usd == 0.0:
                usage = Usage(input_tokens=request.estimate_input_tokens())
                attempt.usage = usage
                attempt.cost_usd = self.registry.get(attempt.model).price.cost(usage)
                attempt.error = "cancelled: lost the hedge race; input cost estimated"
