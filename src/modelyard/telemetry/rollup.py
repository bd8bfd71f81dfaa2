"""Rollups: records summed per time span × model × family × route × router, kept as records are written.

The dashboard and ``modelyard report`` read these instead of the records, so
their cost grows with the number of *aggregates* (spans × distinct keys in the
window), not with the number of requests. Two spans are kept: 10 s (the
dashboard's timeline for windows up to 6 h, and the exact head of any window)
and 1 h (long windows and whole-history reports).

Latency percentiles come from a 64-bucket log histogram per aggregate:
bucket 0 is < 0.5 ms, bucket k covers [0.5·1.25^(k−1), 0.5·1.25^k) ms, the
last one everything from ~516 s up. A percentile is interpolated inside its
bucket (geometrically) and clamped to the group's observed min and max, so it
is within one bucket width (25 %) of the exact value, and exact for a group
whose latencies are all equal.

`Facts` is the little a rollup needs from one record; `RollupBatch` sums a
batch of facts into rows to add to the stored ones (an UPSERT adds the
columns, so concurrent writers from several gateway processes compose).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from modelyard.telemetry.record import Record

__all__ = [
    "AGG_COLUMNS",
    "FINE_S",
    "HIST_COLUMNS",
    "HOUR_S",
    "N_BUCKETS",
    "SPANS",
    "SUM_COLUMNS",
    "Agg",
    "Facts",
    "RollupBatch",
    "bucket_bounds",
    "bucket_of",
    "facts_of",
    "quality_of",
    "route_key",
]

FINE_S = 10
HOUR_S = 3600
SPANS = (FINE_S, HOUR_S)
N_BUCKETS = 64
_BASE_MS = 0.5
_RATIO = 1.25
_LOG_RATIO = math.log(_RATIO)

HIST_COLUMNS = tuple(f"h{i:02d}" for i in range(N_BUCKETS))
#: summed columns of a rollup row, in storage order (then lat_min, lat_max, which take min/max)
SUM_COLUMNS = (
    "n",
    "errors",
    "safe_defaults",
    "simulated",
    "escalated",
    "fell_back",
    "fallbacks",
    "escalations",
    "retries",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "quality_sum",
    "quality_n",
    "lat_sum",
    *HIST_COLUMNS,
)
AGG_COLUMNS = (*SUM_COLUMNS, "lat_min", "lat_max")


def bucket_of(ms: float) -> int:
    """Histogram bucket (0..63) of a latency in milliseconds."""
    if not ms >= _BASE_MS:  # also NaN
        return 0
    return min(N_BUCKETS - 1, 1 + int(math.log(ms / _BASE_MS) / _LOG_RATIO))


def bucket_bounds(i: int) -> tuple[float, float]:
    """[lo, hi) of bucket ``i`` in ms (the last bucket is given one ratio's width)."""
    if i == 0:
        return 0.0, _BASE_MS
    lo = _BASE_MS * _RATIO ** (i - 1)
    return lo, lo * _RATIO


def quality_of(r: Record, *, feedback: bool = True) -> float | None:
    """User feedback wins (unless ``feedback`` is False); else the router's own signal (judge score,
    council passed)."""
    fb = r.feedback_value if feedback else None
    if fb is not None:
        return fb
    for key in ("judge_score", "council_passed"):
        if key in r.quality:
            return r.quality[key]
    return None


def route_key(route: Sequence[str], router: str | None, model: str | None) -> str:
    """The route a record is grouped under: the router path, else the router, else direct/(refused)."""
    return " → ".join(route) if route else (router or ("direct" if model else "(refused)"))


@dataclass(slots=True)
class Facts:
    """What a rollup keeps of one record (``""`` stands for none in key fields)."""

    time: float
    model: str
    family: str
    route: str
    router: str
    status: str
    latency_ms: float
    cost_usd: float
    input_tokens: int = 0
    output_tokens: int = 0
    simulated: bool = False
    escalations: int = 0
    fallbacks: int = 0
    retries: int = 0
    quality: float | None = None
    #: (model, cost_usd, tokens) per attempt: the observed price per model
    attempts: tuple[tuple[str, float, int], ...] = ()


def facts_of(r: Record, *, feedback: bool = True) -> Facts:
    """The facts of ``r``; with ``feedback=False`` its quality ignores feedback joined in memory.

    A SQL sink stores a record's body without feedback and adds feedback to the rollups when the
    feedback row is written; a record object may already carry it (the hub attaches feedback to
    the records in its live ring, which are the objects queued for the sinks), so the sink sums
    records with ``feedback=False`` or it would count that feedback twice."""
    return Facts(
        time=r.time,
        model=r.model or "",
        family=r.family or "",
        route=route_key(r.route, r.router, r.model),
        router=r.router or "",
        status=r.status,
        latency_ms=r.latency_ms,
        cost_usd=r.cost_usd,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        simulated=r.simulated,
        escalations=r.escalations,
        fallbacks=r.fallbacks,
        retries=r.retries,
        quality=quality_of(r, feedback=feedback),
        attempts=tuple((a.model, a.cost_usd, a.input_tokens + a.output_tokens) for a in r.attempts),
    )


@dataclass(slots=True)
class Agg:
    """Summed columns of one rollup row (or of any group of them)."""

    n: int = 0
    errors: int = 0
    safe_defaults: int = 0
    simulated: int = 0
    escalated: int = 0
    fell_back: int = 0
    fallbacks: int = 0
    escalations: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    quality_sum: float = 0.0
    quality_n: int = 0
    lat_sum: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * N_BUCKETS)
    lat_min: float = math.inf
    lat_max: float = -math.inf

    def add(self, f: Facts) -> None:
        self.n += 1
        self.errors += f.status == "error"
        self.safe_defaults += f.status == "safe_default"
        self.simulated += f.simulated
        self.escalated += f.escalations > 0
        self.fell_back += f.fallbacks > 0
        self.fallbacks += f.fallbacks
        self.escalations += f.escalations
        self.retries += f.retries
        self.input_tokens += f.input_tokens
        self.output_tokens += f.output_tokens
        self.cost_usd += f.cost_usd
        if f.quality is not None:
            self.quality_sum += f.quality
            self.quality_n += 1
        ms = f.latency_ms
        self.lat_sum += ms
        self.hist[bucket_of(ms)] += 1
        if ms < self.lat_min:
            self.lat_min = ms
        if ms > self.lat_max:
            self.lat_max = ms

    def merge_row(self, values: Sequence[object]) -> None:
        """Add a row of `AGG_COLUMNS` values (as read back from SQL; NULL sums count as 0)."""
        v = [x if x is not None else 0 for x in values]
        self.n += int(v[0])  # type: ignore[call-overload]
        self.errors += int(v[1])  # type: ignore[call-overload]
        self.safe_defaults += int(v[2])  # type: ignore[call-overload]
        self.simulated += int(v[3])  # type: ignore[call-overload]
        self.escalated += int(v[4])  # type: ignore[call-overload]
        self.fell_back += int(v[5])  # type: ignore[call-overload]
        self.fallbacks += int(v[6])  # type: ignore[call-overload]
        self.escalations += int(v[7])  # type: ignore[call-overload]
        self.retries += int(v[8])  # type: ignore[call-overload]
        self.input_tokens += int(v[9])  # type: ignore[call-overload]
        self.output_tokens += int(v[10])  # type: ignore[call-overload]
        self.cost_usd += float(v[11])  # type: ignore[arg-type]
        self.quality_sum += float(v[12])  # type: ignore[arg-type]
        self.quality_n += int(v[13])  # type: ignore[call-overload]
        self.lat_sum += float(v[14])  # type: ignore[arg-type]
        hist = self.hist
        for i in range(N_BUCKETS):
            hist[i] += int(v[15 + i])  # type: ignore[call-overload]
        lo, hi = values[15 + N_BUCKETS], values[16 + N_BUCKETS]
        if lo is not None and float(lo) < self.lat_min:  # type: ignore[arg-type]
            self.lat_min = float(lo)  # type: ignore[arg-type]
        if hi is not None and float(hi) > self.lat_max:  # type: ignore[arg-type]
            self.lat_max = float(hi)  # type: ignore[arg-type]

    def merge(self, other: Agg) -> None:
        self.merge_row(other.row())

    def row(self) -> tuple[object, ...]:
        """The `AGG_COLUMNS` values (min/max None when empty)."""
        return (
            self.n,
            self.errors,
            self.safe_defaults,
            self.simulated,
            self.escalated,
            self.fell_back,
            self.fallbacks,
            self.escalations,
            self.retries,
            self.input_tokens,
            self.output_tokens,
            self.cost_usd,
            self.quality_sum,
            self.quality_n,
            self.lat_sum,
            *self.hist,
            self.lat_min if self.n else None,
            self.lat_max if self.n else None,
        )

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0..100) of the latencies in ms, from the histogram; None if empty."""
        if self.n == 0:
            return None
        rank = (self.n - 1) * q / 100.0  # same convention as linear interpolation over sorted values
        seen = 0
        for i, count in enumerate(self.hist):
            if count and seen + count > rank:
                lo, hi = bucket_bounds(i)
                frac = (rank - seen + 0.5) / count
                value = lo + (hi - lo) * frac if i == 0 else lo * (hi / lo) ** frac
                return min(max(value, self.lat_min), self.lat_max)
            seen += count
        return self.lat_max

    @property
    def mean_quality(self) -> float | None:
        return self.quality_sum / self.quality_n if self.quality_n else None


RollupKey = tuple[int, int, str, str, str, str]  # span, start, model, family, route, router


class RollupBatch:
    """A batch of facts summed into rows per span: ``rows`` and ``prices`` to add to the store."""

    def __init__(self, keep: Callable[[int, int], bool] | None = None) -> None:
        """``keep(span, start)`` (optional) says which rows to sum at all (a window's, say)."""
        self.rows: dict[RollupKey, Agg] = {}
        self.prices: dict[tuple[int, int, str], list[float]] = {}  # (span, start, model) → [cost, tokens]
        self.keep = keep

    def add(self, f: Facts) -> None:
        for span in SPANS:
            start = int(f.time // span) * span
            if self.keep is not None and not self.keep(span, start):
                continue
            key = (span, start, f.model, f.family, f.route, f.router)
            agg = self.rows.get(key)
            if agg is None:
                agg = self.rows[key] = Agg()
            agg.add(f)
            for model, cost, tokens in f.attempts:
                price = self.prices.setdefault((span, start, model), [0.0, 0])
                price[0] += cost
                price[1] += tokens

    def extend(self, facts: Iterable[Facts]) -> RollupBatch:
        for f in facts:
            self.add(f)
        return self
