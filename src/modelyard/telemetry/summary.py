"""The dashboard's data: one JSON document over a time window of records."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from modelyard.config.telemetry import ReportSettings
from modelyard.telemetry.hub import TelemetryHub
from modelyard.telemetry.record import Record
from modelyard.telemetry.stats import cheap_models, group_by, observed_prices, percentile, route_of

__all__ = ["collect", "summarize"]

_LATEST = 25


def collect(hub: TelemetryHub, since: float) -> tuple[list[Record], str]:
    """Records since ``since``: the store's history merged with the live ring (blocking; run in a thread)."""
    live = [r for r in hub.recent if r.time >= since]
    store = hub.store
    if store is None:
        return live, "memory"
    merged = {r.request_id: r for r in store.query(since=since)}
    merged.update({r.request_id: r for r in live})
    return sorted(merged.values(), key=lambda r: r.time), getattr(store, "name", "store")


def _latest(r: Record) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "time": r.time,
        "tenant": r.tenant,
        "route": route_of(r),
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


def summarize(
    records: Sequence[Record],
    *,
    now: float | None = None,
    window_s: float,
    bucket_s: float = 10.0,
    breakers: dict[str, str] | None = None,
    sinks: list[dict[str, Any]] | None = None,
    source: str = "memory",
    report: ReportSettings | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    start = now - window_s
    n_buckets = max(1, math.ceil(window_s / bucket_s - 1e-9))
    timeline = [{"t": start + i * bucket_s, "n": 0, "errors": 0, "cost_usd": 0.0} for i in range(n_buckets)]
    for r in records:
        i = min(int((r.time - start) // bucket_s), n_buckets - 1)
        if 0 <= i < n_buckets:
            timeline[i]["n"] += 1
            timeline[i]["errors"] += r.status == "error"
            timeline[i]["cost_usd"] += r.cost_usd
    last_minute = sum(1 for r in records if r.time >= now - 60)
    latencies = [r.latency_ms for r in records]
    cheap = cheap_models(records, observed_prices(records), report or ReportSettings())
    events = Counter(e.kind for r in records for e in r.events)
    return {
        "now": now,
        "window_s": window_s,
        "bucket_s": bucket_s,
        "source": source,
        "totals": {
            "requests": len(records),
            "errors": sum(r.status == "error" for r in records),
            "safe_defaults": sum(r.status == "safe_default" for r in records),
            "cost_usd": sum(r.cost_usd for r in records),
            "requests_per_s": last_minute / 60.0,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "fallbacks": events.get("fallback", 0),
            "escalations": events.get("escalation", 0),
            "retries": events.get("retry", 0),
            "cheap_share": sum(1 for r in records if r.model in cheap) / len(records) if records else None,
            "simulated": sum(r.simulated for r in records),
        },
        "timeline": timeline,
        "by_model": [
            g.as_dict() | {"family": _family(records, g.key)} for g in group_by(records, lambda r: r.model)
        ],
        "by_family": [g.as_dict() for g in group_by(records, lambda r: r.family)],
        "by_route": [g.as_dict() for g in group_by(records, route_of)],
        "breakers": breakers or {},
        "sinks": sinks or [],
        "latest": [_latest(r) for r in reversed(records[-_LATEST:])],
    }


def _family(records: Sequence[Record], model: str) -> str | None:
    return next((r.family for r in records if r.model == model), None)
