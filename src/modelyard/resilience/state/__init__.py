"""State backends for breakers, limits and budgets: in-process (default) or Redis (shared)."""

from __future__ import annotations

from modelyard.config.resilience import StateSettings
from modelyard.resilience.state.base import BucketResult, ReserveResult, StateBackend, StateUnavailableError
from modelyard.resilience.state.memory import MemoryState

__all__ = [
    "BucketResult",
    "MemoryState",
    "ReserveResult",
    "StateBackend",
    "StateUnavailableError",
    "create_state",
]


def create_state(settings: StateSettings) -> StateBackend:
    """The configured backend; Redis is imported only when asked for."""
    if settings.backend == "redis":
        from modelyard.resilience.state.redis import RedisState

        return RedisState(settings.url, prefix=settings.prefix)
    return MemoryState()
