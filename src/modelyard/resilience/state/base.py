"""The `StateBackend` seam: the few atomic operations breakers, limits and budgets need.

Each operation is atomic on its own, so several coroutines — or several gateway
processes sharing one Redis — can never double-spend a budget, overdraw a token
bucket or race a breaker transition. Nothing here knows what a breaker is:
`update_json` is an atomic read-modify-write with a pure Python function.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from modelyard.errors import ModelyardError

__all__ = ["BucketResult", "ReserveResult", "StateBackend", "StateUnavailableError"]

T = TypeVar("T")


class StateUnavailableError(ModelyardError):
    """The shared state store cannot be reached. Budgets fail closed: no call is made (HTTP 503)."""

    status_code = 503
    error_type = "service_unavailable"


@dataclass(frozen=True)
class BucketResult:
    """After a take: was it allowed, how many tokens are left, how long until ``amount`` fits."""

    allowed: bool
    level: float
    wait_s: float


@dataclass(frozen=True)
class ReserveResult:
    """``ok`` when every counter had room; ``used`` is each counter's value after (or as found)."""

    ok: bool
    used: tuple[int, ...]


class StateBackend(ABC):
    """Counters and small records, shared as widely as the backend reaches."""

    name: str
    #: True when every operation completes without suspending (no I/O): callers may then
    #: skip `asyncio.shield` around bookkeeping, since cancellation cannot cut it short.
    in_process: bool = False

    @abstractmethod
    async def bucket_take(
        self, key: str, capacity: float, rate_per_s: float, amount: float, *, force: bool = False
    ) -> BucketResult:
        """Take ``amount`` tokens from a bucket refilling at ``rate_per_s`` up to ``capacity``.

        Without ``force`` nothing is taken unless it all fits; with ``force`` the
        level may go negative (charging actual usage) and a negative ``amount``
        gives tokens back (never above capacity).
        """

    @abstractmethod
    async def reserve(
        self, keys: Sequence[str], limits: Sequence[int], amount: int, ttl_s: Sequence[int]
    ) -> ReserveResult:
        """Add ``amount`` to every counter only if each stays ≤ its limit — all or nothing.

        Counters are integers (budgets count nano-dollars) so sums are exact.
        """

    @abstractmethod
    async def adjust(self, keys: Sequence[str], delta: int, ttl_s: Sequence[int]) -> None:
        """Add ``delta`` (may be negative) to every counter unconditionally."""

    @abstractmethod
    async def counters(self, keys: Sequence[str]) -> list[int]:
        """Current values (0 for a missing counter)."""

    @abstractmethod
    async def update_json(
        self, key: str, fn: Callable[[dict[str, Any] | None], tuple[dict[str, Any], T]], ttl_s: int
    ) -> T:
        """Atomically replace the record at ``key`` with ``fn(old)[0]``; return ``fn(old)[1]``.

        ``fn`` must be pure: a backend may call it more than once under contention.
        """

    @abstractmethod
    async def read_json(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """The records at ``keys`` (None where absent)."""

    async def aclose(self) -> None:
        """Release connections."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
