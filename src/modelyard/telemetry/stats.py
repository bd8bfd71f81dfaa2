"""Aggregations over records shared by the report and the dashboard."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from modelyard.config.telemetry import ReportSettings
from modelyard.telemetry.record import Record

__all__ = ["Group", "cheap_models", "group_by", "observed_prices", "percentile", "quality_of", "route_of"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def route_of(r: Record) -> str:
    return " → ".join(r.route) if r.route else (r.router or ("direct" if r.model else "(refused)"))


@dataclass
class Group:
    key: str
    n: int = 0
    errors: int = 0
    cost: float = 0.0
    escalated: int = 0
    fell_back: int = 0
    latencies: list[float] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)

    def add(self, r: Record) -> None:
        self.n += 1
        self.errors += r.status == "error"
        self.cost += r.cost_usd
        self.escalated += r.escalations > 0
        self.fell_back += r.fallbacks > 0
        self.latencies.append(r.latency_ms)
        q = quality_of(r)
        if q is not None:
            self.quality.append(q)

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def mean_quality(self) -> float | None:
        return sum(self.quality) / len(self.quality) if self.quality else None

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


def quality_of(r: Record) -> float | None:
    """User feedback wins; else the router's own signal (judge score, council passed)."""
    fb = r.feedback_value
    if fb is not None:
        return fb
    for key in ("judge_score", "council_passed"):
        if key in r.quality:
            return r.quality[key]
    return None


def group_by(records: Iterable[Record], key: Callable[[Record], str | None]) -> list[Group]:
    groups: dict[str, Group] = defaultdict(lambda: Group(""))
    for r in records:
        k = key(r) or "-"
        g = groups[k]
        g.key = k
        g.add(r)
    return sorted(groups.values(), key=lambda g: (-g.n, g.key))


def cheap_models(records: Sequence[Record], prices: dict[str, float], settings: ReportSettings) -> set[str]:
    """Models counted as cheap tiers: of a cheap family, or (optionally) priced below the median."""
    seen = {r.model for r in records if r.model}
    families = {f.value for f in settings.cheap_families}
    cheap = {r.model for r in records if r.model and r.family in families}
    if settings.cheap_below_median_price:
        priced = [prices[m] for m in seen if m in prices]
        median = percentile(priced, 50)
        if median is not None:
            cheap |= {m for m in seen if m in prices and prices[m] < median}
    return cheap


def observed_prices(records: Iterable[Record]) -> dict[str, float]:
    """USD per 1,000 tokens each model actually cost, from the attempts (no config needed)."""
    cost: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    for r in records:
        for a in r.attempts:
            cost[a.model] += a.cost_usd
            tokens[a.model] += a.input_tokens + a.output_tokens
    return {m: cost[m] / tokens[m] * 1000.0 for m in cost if tokens[m]}
