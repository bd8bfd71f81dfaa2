"""A time window of traffic as aggregates: what the dashboard and ``modelyard report`` show.

`Reads` is what one window read returns — from the SQL rollup tables
(`modelyard.telemetry.sinks.sql_rollups`) or from rollups summed in memory
(the live ring, records still queued for a sink, a JSONL file streamed
once) — and `Window` says which rollup rows cover a window. Everything here
is sized by aggregates: distinct (model, family, route, router) keys, spans
in the window, models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelyard.telemetry.rollup import FINE_S, HOUR_S, Agg, RollupBatch

if TYPE_CHECKING:  # annotations only: the writer process imports this module, not the config package
    from modelyard.config.telemetry import ReportSettings

__all__ = ["FINE_WINDOW_S", "Group", "Reads", "Window", "cheap_of"]

#: windows up to this long are read from the 10 s rollups alone (the dashboard's timeline)
FINE_WINDOW_S = 6 * HOUR_S

GroupKey = tuple[str, str, str, str]  # model, family, route, router ("" for none)


@dataclass(frozen=True)
class Window:
    """Which rollup rows cover ``since`` .. now.

    The 10 s rows for the head (or for all of it with ``fine_only``), the 1 h
    rows from the first whole hour on; all 1 h rows when ``since`` is None.
    A window starts at the 10 s boundary at or before ``since`` (up to 10 s
    more than asked).
    """

    since: float | None
    fine_only: bool = False

    @property
    def head(self) -> int | None:
        return None if self.since is None else int(self.since // FINE_S) * FINE_S

    @property
    def hour(self) -> int | None:
        return None if self.since is None else math.ceil(self.since / HOUR_S) * HOUR_S

    def covers(self, span: int, start: int) -> bool:
        """Whether a rollup row (span, start) belongs to this window."""
        head, hour = self.head, self.hour
        if head is None or hour is None:
            return span == HOUR_S
        if self.fine_only:
            return span == FINE_S and start >= head
        return (span == FINE_S and head <= start < hour) or (span == HOUR_S and start >= hour)

    def where(self, param: str) -> tuple[str, list[int]]:
        """The same condition as `covers`, as SQL over the ``span, start`` primary-key prefix."""
        head, hour = self.head, self.hour
        if head is None or hour is None:
            return f"span = {HOUR_S}", []
        if self.fine_only:
            return f"span = {FINE_S} AND start >= {param}", [head]
        return (
            f"((span = {FINE_S} AND start >= {param} AND start < {param}) OR (span = {HOUR_S} AND start >= {param}))",
            [head, hour, hour],
        )

    @staticmethod
    def for_dashboard(since: float, now: float) -> Window:
        return Window(since, fine_only=now - since <= FINE_WINDOW_S)


@dataclass
class Reads:
    """A window's aggregates (every list is sized by aggregates, never by records)."""

    groups: dict[GroupKey, Agg] = field(default_factory=dict)
    timeline: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (start, span) → n, errors, cost
    family_cost: dict[tuple[int, int, str], float] = field(default_factory=dict)  # (start, span, family) → cost
    prices: dict[str, list[float]] = field(default_factory=dict)  # model → [cost_usd, tokens] of attempts

    def add_group(self, key: GroupKey, agg: Agg) -> None:
        mine = self.groups.get(key)
        if mine is None:
            self.groups[key] = mine = Agg()
        mine.merge(agg)

    def add_time(self, start: int, span: int, n: float, errors: float, cost: float) -> None:
        t = self.timeline.setdefault((start, span), [0, 0, 0.0])
        t[0] += n
        t[1] += errors
        t[2] += cost

    def add_price(self, model: str, cost: float, tokens: float) -> None:
        p = self.prices.setdefault(model, [0.0, 0])
        p[0] += cost
        p[1] += tokens

    def merge(self, other: Reads) -> Reads:
        for key, agg in other.groups.items():
            self.add_group(key, agg)
        for (start, span), (n, errors, cost) in other.timeline.items():
            self.add_time(start, span, n, errors, cost)
        for k, c in other.family_cost.items():
            self.family_cost[k] = self.family_cost.get(k, 0.0) + c
        for model, (cost, tokens) in other.prices.items():
            self.add_price(model, cost, tokens)
        return self

    @classmethod
    def from_batch(cls, batch: RollupBatch, window: Window) -> Reads:
        """What the SQL window read would return had ``batch`` been stored (rollups summed in memory)."""
        out = cls()
        for (span, start, model, family, route, router), agg in batch.rows.items():
            if not window.covers(span, start):
                continue
            out.add_group((model, family, route, router), agg)
            out.add_time(start, span, agg.n, agg.errors, agg.cost_usd)
            k = (start, span, family)
            out.family_cost[k] = out.family_cost.get(k, 0.0) + agg.cost_usd
        for (span, start, model), (cost, tokens) in batch.prices.items():
            if window.covers(span, start):
                out.add_price(model, cost, tokens)
        return out

    # -- views -----------------------------------------------------------------------------

    def total(self) -> Agg:
        agg = Agg()
        for g in self.groups.values():
            agg.merge(g)
        return agg

    def by(self, part: Callable[[GroupKey], str]) -> list[Group]:
        """Groups keyed by ``part`` of the key ("-" for none), largest first."""
        out: dict[str, Group] = {}
        for key, agg in self.groups.items():
            name = part(key) or "-"
            g = out.get(name)
            if g is None:
                g = out[name] = Group(name)
            g.agg.merge(agg)
        return sorted(out.values(), key=lambda g: (-g.n, g.key))

    def by_model(self) -> list[Group]:
        return self.by(lambda k: k[0])

    def by_family(self) -> list[Group]:
        return self.by(lambda k: k[1])

    def by_route(self) -> list[Group]:
        return self.by(lambda k: k[2])

    def by_router(self) -> list[Group]:
        return self.by(lambda k: k[3])

    def family_of(self, model: str) -> str | None:
        best = max(((a.n, k[1]) for k, a in self.groups.items() if k[0] == model and k[1]), default=None)
        return best[1] if best else None

    def observed_prices(self) -> dict[str, float]:
        """USD per 1,000 tokens each model's attempts cost."""
        return {m: c / t * 1000.0 for m, (c, t) in self.prices.items() if t}

    def cheap(self, settings: ReportSettings) -> tuple[set[str], float | None]:
        """Cheap-tier models and their share of answered requests (None when none were answered)."""
        models = {k[0]: self.family_of(k[0]) for k in self.groups if k[0]}
        cheap = cheap_of(models, self.observed_prices(), settings)
        answered = sum(a.n for k, a in self.groups.items() if k[0])
        on_cheap = sum(a.n for k, a in self.groups.items() if k[0] in cheap)
        return cheap, (on_cheap / answered if answered else None)


def cheap_of(models: dict[str, str | None], prices: dict[str, float], settings: ReportSettings) -> set[str]:
    """Models counted as cheap tiers: of a cheap family, or (optionally) priced below the median."""
    families = {f.value for f in settings.cheap_families}
    cheap = {m for m, fam in models.items() if fam in families}
    if settings.cheap_below_median_price:
        priced = sorted(prices[m] for m in models if m in prices)
        if priced:
            k = (len(priced) - 1) / 2
            median = priced[math.floor(k)] + (priced[math.ceil(k)] - priced[math.floor(k)]) * (k - math.floor(k))
            cheap |= {m for m in models if m in prices and prices[m] < median}
    return cheap


@dataclass
class Group:
    """One row of a table by model, family, route or router."""

    key: str
    agg: Agg = field(default_factory=Agg)

    @property
    def n(self) -> int:
        return self.agg.n

    @property
    def errors(self) -> int:
        return self.agg.errors

    @property
    def cost(self) -> float:
        return self.agg.cost_usd

    @property
    def escalated(self) -> int:
        return self.agg.escalated

    @property
    def fell_back(self) -> int:
        return self.agg.fell_back

    @property
    def quality_n(self) -> int:
        return self.agg.quality_n

    @property
    def mean_quality(self) -> float | None:
        return self.agg.mean_quality

    @property
    def p50(self) -> float | None:
        return self.agg.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.agg.percentile(95)

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "n": self.n,
            "errors": self.errors,
            "cost_usd": self.cost,
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "quality": self.mean_quality,
            "escalation_rate": self.escalated / self.n if self.n else 0.0,
            "fallback_rate": self.fell_back / self.n if self.n else 0.0,
        }
