"""Hedged requests: if the first call is slow, race a second one and keep the first good answer.

The hedge delay is a latency quantile of the model's recent successful calls
(so only the slow tail is hedged), or a fixed ``after_ms`` until enough calls
were seen. The loser is cancelled — its connection closed — and both calls
stay on the trace so both costs are accounted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from modelyard.config.resilience import HedgeSettings
from modelyard.errors import ProviderError

__all__ = ["LatencyWindow", "hedged"]

T = TypeVar("T")


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
) -> tuple[T, bool]:
    """Run ``primary``; after ``delay_s`` also ``secondary``. Return (first good answer, hedge won?).

    A failure of one does not end the race while the other still runs; when
    both fail, the primary's error is raised.
    """
    first: asyncio.Task[T] = asyncio.ensure_future(primary())
    tasks: dict[asyncio.Task[T], bool] = {first: False}
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
            for task in done:
                exc = task.exception()
                if exc is None:
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
