"""Helpers for spending one request's `Deadline` across retries, fallbacks and hedges."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from modelyard.errors import ProviderTimeoutError
from modelyard.types import Deadline

__all__ = ["Deadline", "deadline_for", "run_within"]

T = TypeVar("T")


def deadline_for(latency_budget_ms: float | None, default_ms: float) -> Deadline:
    """The request's own budget when it set one (header or hint), else the configured default."""
    return Deadline.after_ms(latency_budget_ms if latency_budget_ms is not None else default_ms)


async def run_within(deadline: Deadline, awaitable: Awaitable[T], *, what: str = "work") -> T:
    """Await ``awaitable`` but cancel it (closing its connection) when the deadline passes."""
    left = deadline.remaining()
    if left <= 0:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise ProviderTimeoutError(f"request deadline passed before {what} could start")
    try:
        async with asyncio.timeout(left):
            return await awaitable
    except TimeoutError:
        raise ProviderTimeoutError(f"request deadline passed during {what}") from None
