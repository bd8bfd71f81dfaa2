"""Token-bucket rate limits per model (upstream quota) and per tenant (gateway fairness).

A bucket of ``rpm`` requests (or ``tpm`` tokens) refills continuously at a
sixtieth of that per second. Token buckets are charged up front with the
request's estimated tokens and corrected with actual usage afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.config.resilience import LimitSettings, ModelLimit, TenantLimit
from modelyard.errors import RateLimitedError, RateLimitExceededError
from modelyard.resilience.state.base import StateBackend
from modelyard.types import Deadline

__all__ = ["Limits", "ModelRateLimitedError"]


class ModelRateLimitedError(RateLimitedError):
    """A model's configured quota is used up here; no upstream call was made."""

    def __init__(self, model: str, retry_after: float) -> None:
        super().__init__(
            f"model {model!r} is at its configured rate limit; retry in {retry_after:.2f}s",
            retry_after=retry_after,
            model=model,
            provider="modelyard",
        )


@dataclass
class _Seen:
    """Last level seen for a bucket, to answer the sync availability question."""

    level: float
    at: float
    capacity: float
    rate: float

    def level_now(self, now: float) -> float:
        return min(self.capacity, self.level + max(0.0, now - self.at) * self.rate)


class Limits:
    def __init__(
        self, settings: LimitSettings, state: StateBackend, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._state = state
        self._clock = clock
        self._seen: dict[str, _Seen] = {}

    def _buckets(self, scope: str, name: str, limit: ModelLimit | TenantLimit) -> list[tuple[str, float]]:
        out = []
        if limit.rpm is not None:
            out.append((f"rl:{scope}:{name}:rpm", limit.rpm))
        if limit.tpm is not None:
            out.append((f"rl:{scope}:{name}:tpm", limit.tpm))
        return out

    async def _take(self, scope: str, name: str, limit: ModelLimit | TenantLimit, tokens: int) -> float:
        """Take one request and ``tokens`` tokens; 0 if taken, else seconds until they would fit."""
        taken: list[tuple[str, float, float]] = []
        for key, per_minute in self._buckets(scope, name, limit):
            amount = 1.0 if key.endswith(":rpm") else float(tokens)
            amount = min(amount, per_minute)  # a request larger than the bucket waits for a full bucket
            result = await self._state.bucket_take(key, per_minute, per_minute / 60.0, amount)
            self._seen[key] = _Seen(result.level, self._clock(), per_minute, per_minute / 60.0)
            if not result.allowed:
                for k, cap, amt in taken:  # all or nothing: give back what was taken
                    await self._state.bucket_take(k, cap, cap / 60.0, -amt, force=True)
                return max(result.wait_s, 1e-3)
            taken.append((key, per_minute, amount))
        return 0.0

    async def acquire_model(self, model: str, tokens: int, deadline: Deadline) -> None:
        """Take the model's quota, waiting (``on_limit: wait``) or raising `ModelRateLimitedError`."""
        limit = self.settings.models.get(model)
        if limit is None:
            return
        waited = 0.0
        while True:
            wait = await self._take("model", model, limit, tokens)
            if wait == 0.0:
                return
            budget = min(deadline.remaining(), limit.max_wait_ms / 1000.0 - waited)
            if limit.on_limit == "skip" or wait > budget:
                raise ModelRateLimitedError(model, wait)
            await asyncio.sleep(wait)
            waited += wait

    async def settle_model_tokens(self, model: str, estimated: int, actual: int) -> None:
        limit = self.settings.models.get(model)
        if limit is None or limit.tpm is None or actual == estimated:
            return
        await self._state.bucket_take(
            f"rl:model:{model}:tpm", limit.tpm, limit.tpm / 60.0, float(actual - estimated), force=True
        )

    def tenant_limit(self, tenant: str | None) -> TenantLimit | None:
        tenants = self.settings.tenants
        return tenants.get(tenant) if tenant is not None and tenant in tenants else tenants.get("*")

    async def admit_tenant(self, tenant: str | None, tokens: int) -> None:
        """Raise `RateLimitExceededError` (HTTP 429 + Retry-After) when the tenant is over its limit."""
        limit = self.tenant_limit(tenant)
        if limit is None:
            return
        wait = await self._take("tenant", tenant or "anonymous", limit, tokens)
        if wait:
            raise RateLimitExceededError(
                f"tenant {tenant or 'anonymous'!r} is over its rate limit; retry in {wait:.2f}s",
                retry_after=wait,
            )

    def model_unavailable(self, model: str) -> str | None:
        """For routers: a ``skip`` model whose buckets were last seen empty."""
        empty = self._empty_buckets(model)
        return f"at its {empty[0][0].rsplit(':', 1)[-1]} rate limit" if empty else None

    def model_retry_in(self, model: str) -> float | None:
        """Seconds until a ``skip`` model's empty buckets (as last seen) hold a request again; None if none is empty."""
        empty = self._empty_buckets(model)
        return max(wait for _, wait in empty) if empty else None

    def _empty_buckets(self, model: str) -> list[tuple[str, float]]:
        """(key, seconds until one request fits) for the ``skip`` model's buckets last seen below one."""
        limit = self.settings.models.get(model)
        if limit is None or limit.on_limit != "skip":
            return []
        now = self._clock()
        empty = []
        for key, _ in self._buckets("model", model, limit):
            seen = self._seen.get(key)
            if seen is not None and (level := seen.level_now(now)) < 1.0:
                empty.append((key, (1.0 - level) / seen.rate))
        return empty
