"""When to try the same model again, and after how long.

Hand-written rather than tenacity: the decision needs the error's kind, the
upstream's ``Retry-After`` and the request's remaining deadline together, and
each retry must be recorded on the trace and pass the breaker again — a
20-line policy object is clearer than adapting tenacity's wait/stop hooks.
"""

from __future__ import annotations

import random

from modelyard.config.resilience import RetrySettings
from modelyard.errors import ErrorKind, ProviderError
from modelyard.types import Deadline

__all__ = ["RetryPolicy"]

#: Never retried whatever the config says: the same request fails the same way.
NEVER = frozenset(
    {ErrorKind.AUTH, ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG, ErrorKind.CONTENT_FILTERED}
)


class RetryPolicy:
    """Exponential backoff with jitter, honouring ``Retry-After``, bounded by attempts and deadline."""

    def __init__(self, settings: RetrySettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1`` (``attempt`` counts from 1), jitter included."""
        s = self.settings
        full = min(s.max_delay_ms, s.base_delay_ms * 2 ** (attempt - 1)) / 1000.0
        return float(full * (1.0 - s.jitter) + self._rng.uniform(0.0, full * s.jitter))

    def next_delay(self, exc: ProviderError, attempt: int, deadline: Deadline) -> float | None:
        """Seconds to wait before retrying after ``exc`` on attempt ``attempt``, or None to stop."""
        s = self.settings
        if attempt >= s.attempts or exc.kind in NEVER or exc.kind not in s.retry_on:
            return None
        delay = self.backoff(attempt)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            if retry_after > s.max_retry_after_s:
                return None
            delay = max(delay, float(retry_after))
        # Leave the retry some time to run, not just to start.
        if delay >= deadline.remaining() * 0.9:
            return None
        return delay
