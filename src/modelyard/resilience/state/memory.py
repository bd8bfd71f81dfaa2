"""In-process state: the default. Atomic because no operation awaits between read and write."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from modelyard.resilience.state.base import BucketResult, ReserveResult, StateBackend

__all__ = ["MemoryState"]

T = TypeVar("T")


class MemoryState(StateBackend):
    """Dictionaries owned by one engine; ``clock`` is monotonic seconds (injectable for tests).

    Counter TTLs are ignored: period keys (``…:day:2025-01-31``) stop being read
    once the period ends, and one process holds few of them.
    """

    name = "memory"
    in_process = True

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (level, at)
        self._counters: dict[str, int] = {}
        self._records: dict[str, bytes] = {}  # JSON, like Redis: callers never share a dict with the store

    async def bucket_take(
        self, key: str, capacity: float, rate_per_s: float, amount: float, *, force: bool = False
    ) -> BucketResult:
        return self.bucket_take_now(key, capacity, rate_per_s, amount, force=force)

    def bucket_take_now(
        self, key: str, capacity: float, rate_per_s: float, amount: float, *, force: bool = False
    ) -> BucketResult:
        now = self._clock()
        level, at = self._buckets.get(key, (capacity, now))
        level = min(capacity, level + max(0.0, now - at) * rate_per_s)
        if force or amount <= level:
            level = min(capacity, level - amount)
            self._buckets[key] = (level, now)
            return BucketResult(True, level, 0.0)
        self._buckets[key] = (level, now)
        wait = (amount - level) / rate_per_s if rate_per_s > 0 else float("inf")
        return BucketResult(False, level, wait)

    def bucket_level(self, key: str, capacity: float, rate_per_s: float) -> float:
        """The level now, without taking."""
        now = self._clock()
        level, at = self._buckets.get(key, (capacity, now))
        return min(capacity, level + max(0.0, now - at) * rate_per_s)

    async def reserve(
        self, keys: Sequence[str], limits: Sequence[int], amount: int, ttl_s: Sequence[int]
    ) -> ReserveResult:
        used = [self._counters.get(k, 0) for k in keys]
        if any(u + amount > lim for u, lim in zip(used, limits, strict=True)):
            return ReserveResult(False, tuple(used))
        for k in keys:
            self._counters[k] = self._counters.get(k, 0) + amount
        return ReserveResult(True, tuple(u + amount for u in used))

    async def adjust(self, keys: Sequence[str], delta: int, ttl_s: Sequence[int]) -> None:
        for k in keys:
            self._counters[k] = self._counters.get(k, 0) + delta

    async def counters(self, keys: Sequence[str]) -> list[int]:
        return [self._counters.get(k, 0) for k in keys]

    async def update_json(
        self, key: str, fn: Callable[[dict[str, Any] | None], tuple[dict[str, Any], T]], ttl_s: int
    ) -> T:
        raw = self._records.get(key)
        new, result = fn(orjson.loads(raw) if raw is not None else None)
        self._records[key] = orjson.dumps(new)
        return result

    async def read_json(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return [orjson.loads(r) if (r := self._records.get(k)) is not None else None for k in keys]
