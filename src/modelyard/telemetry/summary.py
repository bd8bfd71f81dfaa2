"""The dashboard's data: one JSON document over a time window, built from aggregates.

With a SQL sink, the window is read from its rollup tables (a fixed number of
indexed queries whatever the number of records: `SqlStore.read_view`) plus
the records still queued for that sink (at most its queue size), so the
numbers are current. Without one, the live ring in memory is summed the same
way. Latency percentiles come from the rollups' histograms (see
`modelyard.telemetry.rollup`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from modelyard.config.telemetry import ReportSettings
from modelyard.telemetry.hub import TelemetryHub
from modelyard.telemetry.record import Record
from modelyard.telemetry.rollup import FINE_S, HOUR_S, RollupBatch, facts_of, route_key
from modelyard.telemetry.view import Reads, Window

__all__ = ["Collected", "collect", "summarize"]

_LATEST = 25


@dataclass
class Collected:
    window: Window
    reads: Reads
    latest: list[Record]  # newest first
    source: str
    requests_per_s: float = 0.0  # over the last minute


def collect(hub: TelemetryHub, since: float, now: float) -> Collected:
    """The window's aggregates from the store (plus queued records) or the live ring (blocking)."""
    window = Window.for_dashboard(since, now)
    head = window.head or since
    store = hub.view_store
    if store is None:
        live = [r for r in hub.recent if r.time >= head]
        reads = Reads.from_batch(RollupBatch().extend(facts_of(r) for r in live), window)
        latest = sorted(live, key=lambda r: r.time, reverse=True)[:_LATEST]
        minute = Reads.from_batch(RollupBatch().extend(facts_of(r) for r in live), _last_minute(now))
        return Collected(window, reads, latest, "memory", recent_rate(minute, now))
    pending = [r for r in hub.queued_records(store) if r.time >= head]
    view = store.read_view(window, latest=_LATEST)
    queued = RollupBatch().extend(facts_of(r) for r in pending)
    reads = view.reads.merge(Reads.from_batch(queued, window))
    latest = sorted([*view.latest, *pending], key=lambda r: r.time, reverse=True)[:_LATEST]
    minute = (
        reads
        if window.fine_only
        else store.read_view(_last_minute(now)).reads.merge(Reads.from_batch(queued, _last_minute(now)))
    )  # a long window holds hour rollups, not the last minute's 10 s ones
    return Collected(window, reads, latest, getattr(store, "name", "store"), recent_rate(minute, now))


def _last_minute(now: float) -> Window:
    return Window(now - 60, fine_only=True)


def recent_rate(reads: Reads, now: float) -> float:
    """Requests per second over the last minute, from the whole 10 s rollups in it (50–60 s of them)."""
    since = (math.floor((now - 60) / FINE_S) + 1) * FINE_S
    n = sum(v[0] for (start, span), v in reads.timeline.items() if span == FINE_S and start >= since)
    return n / max(now - since, 1.0)


def _latest(r: Record) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "time": r.time,
        "tenant": r.tenant,
        "route": route_key(r.route, r.router, r.model),
        "model": r.model,
        "family": r.family,
        "status": r.status,
        "error_kind": r.error_kind,
        "latency_ms": r.latency_ms,
        "cost_usd": r.cost_usd,
        "reason": r.reason,
        "rejected": [f"{c.name}: {c.reason}" for c in r.rejected],
        "events": [f"{e.kind}: {e.detail}" for e in r.events],
        "simulated": r.simulated,
    }


def bucket_for(window: Window, window_s: float) -> int:
    """Timeline bar width in seconds: a multiple of 10 s giving ≤ 90 bars, or 1 h for long windows."""
    if not window.fine_only:
        return HOUR_S
    return max(FINE_S, math.ceil(window_s / 90 / FINE_S) * FINE_S)


def summarize(
    data: Collected,
    *,
    now: float | None = None,
    window_s: float,
    breakers: dict[str, str] | None = None,
    sinks: list[dict[str, Any]] | None = None,
    report: ReportSettings | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    reads, window = data.reads, data.window
    bucket = bucket_for(window, window_s)
    start = int((window.head or now - window_s) // bucket) * bucket
    n_buckets = max(1, math.ceil((now - start) / bucket - 1e-9))
    timeline = [{"t": start + i * bucket, "n": 0, "errors": 0, "cost_usd": 0.0} for i in range(n_buckets)]
    for (t, _span), (n, errors, cost) in reads.timeline.items():
        i = min(max(int((t - start) // bucket), 0), n_buckets - 1)
        timeline[i]["n"] += int(n)
        timeline[i]["errors"] += int(errors)
        timeline[i]["cost_usd"] += cost
    total = reads.total()
    cheap, _ = reads.cheap(report or ReportSettings())
    on_cheap = sum(a.n for k, a in reads.groups.items() if k[0] in cheap)
    return {
        "now": now,
        "window_s": window_s,
        "bucket_s": bucket,
        "source": data.source,
        "totals": {
            "requests": total.n,
            "errors": total.errors,
            "safe_defaults": total.safe_defaults,
            "cost_usd": total.cost_usd,
            "requests_per_s": data.requests_per_s,
            "p50_ms": total.percentile(50),
            "p95_ms": total.percentile(95),
            "fallbacks": total.fallbacks,
            "escalations": total.escalations,
            "retries": total.retries,
            "cheap_share": on_cheap / total.n if total.n else None,
            "simulated": total.simulated,
        },
        "timeline": timeline,
        "by_model": [g.as_dict() | {"family": reads.family_of(g.key)} for g in reads.by_model()],
        "by_family": [g.as_dict() for g in reads.by_family()],
        "by_route": [g.as_dict() for g in reads.by_route()],
        "breakers": breakers or {},
        "sinks": sinks or [],
        "latest": [_latest(r) for r in data.latest],
    }
