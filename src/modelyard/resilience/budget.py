"""Cost budgets: reserve the worst case before a call, settle the actual after.

A reservation adds the call's worst-case cost to every counter that caps it
(tenant per day, per month) in one atomic step that fails unless all stay
within their limits, so any number of concurrent requests — in one process or
many sharing Redis — can never spend past a cap. Counters hold integer
nano-dollars so sums are exact. The per-request cap (``max_cost``) lives with
the request and is checked against the trace's spend plus open reservations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.config.models import ModelSpec
from modelyard.config.resilience import BudgetLimit, BudgetSettings
from modelyard.errors import BudgetExceededError
from modelyard.resilience.state.base import StateBackend
from modelyard.types import ChatRequest, RequestTrace, Usage

__all__ = ["Budget", "Reservation", "to_nano"]

_NANO = 1_000_000_000
_DAY_TTL = 3 * 86_400
_MONTH_TTL = 33 * 86_400


def to_nano(usd: float, *, up: bool = False) -> int:
    return math.ceil(usd * _NANO) if up else round(usd * _NANO)


@dataclass
class Reservation:
    request_id: str
    keys: list[str]
    ttls: list[int]
    nano: int
    usd: float


class Budget:
    def __init__(
        self, settings: BudgetSettings, state: StateBackend, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._state = state
        self._clock = clock
        self._open: dict[str, float] = {}  # request id → USD reserved and not yet settled

    # -- estimates ---------------------------------------------------------------

    def worst_case(self, spec: ModelSpec, request: ChatRequest) -> float:
        """An upper bound on what one call can cost: full output length (for each of ``n`` choices
        passed through in the call), generous input count (billed once), every image in and every
        image asked for (an image-generation request's ``n``)."""
        out = request.output_token_limit or spec.max_output_tokens or self.settings.default_max_output_tokens
        usage = Usage(
            input_tokens=math.ceil(request.estimate_input_tokens() * self.settings.input_margin),
            output_tokens=out * request.choice_count,
            images=len(request.images) + request.output_images,
        )
        return spec.price.cost(usage)

    # -- tenant caps ---------------------------------------------------------------

    def _limit(self, tenant: str | None) -> BudgetLimit | None:
        tenants = self.settings.tenants
        return tenants.get(tenant) if tenant is not None and tenant in tenants else tenants.get("*")

    def _counters(self, tenant: str | None) -> list[tuple[str, int, int, str]]:
        """(key, limit in nano-USD, ttl, label) for each cap on ``tenant``."""
        limit = self._limit(tenant)
        if limit is None:
            return []
        now = dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)
        who = tenant or "anonymous"
        out = []
        if limit.daily_usd is not None:
            out.append((f"budget:{who}:day:{now:%Y-%m-%d}", to_nano(limit.daily_usd), _DAY_TTL, "daily"))
        if limit.monthly_usd is not None:
            out.append((f"budget:{who}:month:{now:%Y-%m}", to_nano(limit.monthly_usd), _MONTH_TTL, "monthly"))
        return out

    async def spent(self, tenant: str | None) -> dict[str, float]:
        """USD counted against each cap (settled spend plus open reservations)."""
        counters = self._counters(tenant)
        values = await self._state.counters([c[0] for c in counters])
        return {label: v / _NANO for (_, _, _, label), v in zip(counters, values, strict=True)}

    def resets_in(self, label: str) -> float:
        """Seconds until a ``daily`` (next 00:00 UTC) or ``monthly`` (the 1st, 00:00 UTC) window resets."""
        now = dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)
        if label == "daily":
            reset = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        else:
            year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
            reset = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        return (reset - now).total_seconds()

    def _refusal(self, message: str, labels: list[str]) -> BudgetExceededError:
        """The error for caps ``labels`` being used up: ``retry_after`` once all of them have reset."""
        wait = max(self.resets_in(label) for label in labels)
        reset = dt.datetime.fromtimestamp(self._clock() + wait, tz=dt.UTC)
        return BudgetExceededError(f"{message}; it resets at {reset:%Y-%m-%d %H:%M} UTC", retry_after=wait)

    async def check_tenant(self, tenant: str | None) -> None:
        """Refuse at the door when a cap is already used up (``retry_after``: until it resets)."""
        counters = self._counters(tenant)
        values = await self._state.counters([c[0] for c in counters])
        pairs = zip(counters, values, strict=True)
        over = [(label, used, limit) for (_, limit, _, label), used in pairs if used >= limit]
        if over:
            label, used, limit = over[0]
            raise self._refusal(
                f"tenant {tenant or 'anonymous'!r} has used its {label} budget "
                f"(${used / _NANO:.6f} of ${limit / _NANO:.6f})",
                [o[0] for o in over],
            )

    # -- per call -----------------------------------------------------------------

    def request_cap(self, request: ChatRequest) -> float | None:
        hint = request.hints.max_cost_usd
        return hint if hint is not None else self.settings.per_request_usd

    async def reserve(self, model: str, usd: float, request: ChatRequest, trace: RequestTrace) -> Reservation:
        """Hold ``usd`` against the request's cap and the tenant's caps, or raise `BudgetExceededError`."""
        cap = self.request_cap(request)
        rid = trace.request_id
        if cap is not None:
            committed = trace.cost_usd + self._open.get(rid, 0.0)
            if committed + usd > cap + 1e-12:
                raise BudgetExceededError(
                    f"{model!r} may cost up to ${usd:.6f}; with ${committed:.6f} already committed "
                    f"that passes this request's max_cost ${cap:.6f}"
                )
        counters = self._counters(trace.tenant)
        nano = to_nano(usd, up=True)
        if counters and nano > 0:
            result = await self._state.reserve(
                [c[0] for c in counters], [c[1] for c in counters], nano, [c[2] for c in counters]
            )
            if not result.ok:
                over = [c[3] for c, used in zip(counters, result.used, strict=True) if used + nano > c[1]]
                raise self._refusal(
                    f"tenant {trace.tenant or 'anonymous'!r}: {model!r} may cost up to ${usd:.6f}, "
                    f"more than is left of its {' and '.join(over)} budget",
                    over,
                )
        else:
            nano = 0
        self._open[rid] = self._open.get(rid, 0.0) + usd
        return Reservation(rid, [c[0] for c in counters] if nano else [], [c[2] for c in counters], nano, usd)

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the held worst case by what was actually spent. Runs even if the caller is cancelled."""
        left = self._open.get(reservation.request_id, 0.0) - reservation.usd
        if left <= 1e-15:
            self._open.pop(reservation.request_id, None)
        else:
            self._open[reservation.request_id] = left
        if reservation.keys:
            delta = to_nano(actual_usd) - reservation.nano
            if delta:
                await asyncio.shield(self._state.adjust(reservation.keys, delta, reservation.ttls))
