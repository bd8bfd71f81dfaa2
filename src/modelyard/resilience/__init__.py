"""Resilience: fallbacks, circuit breakers, retries, deadlines, rate limits, budgets, hedging.

Each layer wraps the engine's call path and speaks the same ``chat`` /
``stream`` / ``embed`` shape; `ResilientCalls` composes them in one visible
order. State lives in a `StateBackend` — in-process by default, Redis to share
it between gateway instances.
"""

from modelyard.resilience.breaker import (
    Admission,
    Breaker,
    BreakerBoard,
    CircuitOpenError,
    Transition,
)
from modelyard.resilience.budget import Budget, Reservation
from modelyard.resilience.build import SAFE_DEFAULT_MODEL, Resilience, build_resilience
from modelyard.resilience.calls import ResilientCalls
from modelyard.resilience.deadline import deadline_for, run_within
from modelyard.resilience.fallback import FallbackRun
from modelyard.resilience.hedge import LatencyWindow, hedged
from modelyard.resilience.limits import Limits, ModelRateLimitedError
from modelyard.resilience.retry import RetryPolicy
from modelyard.resilience.state import MemoryState, StateBackend, create_state

__all__ = [
    "SAFE_DEFAULT_MODEL",
    "Admission",
    "Breaker",
    "BreakerBoard",
    "Budget",
    "CircuitOpenError",
    "FallbackRun",
    "LatencyWindow",
    "Limits",
    "MemoryState",
    "ModelRateLimitedError",
    "Reservation",
    "Resilience",
    "ResilientCalls",
    "RetryPolicy",
    "StateBackend",
    "Transition",
    "build_resilience",
    "create_state",
    "deadline_for",
    "hedged",
    "run_within",
]
