"""Prometheus metrics for one engine, in its own `CollectorRegistry` (no global state).

Counters and histograms are updated from each finished record; breaker
states and sink queues are read at scrape time through callbacks, so the
resilience layer and the sink workers need not know Prometheus exists.
Label values are bounded by config (models, routers, families, gateway key
names as tenants); ``tenant`` is ``-`` when a request named none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.worker import SinkStats

__all__ = ["BREAKER_STATES", "CONTENT_TYPE", "TelemetryMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "half_open", "open")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

BreakerStates = Callable[[], Mapping[str, str]]
SinkStatsFn = Callable[[], list[SinkStats]]


class _ScrapeTime(Collector):
    """Breaker states and sink queue counters, read when Prometheus scrapes."""

    def __init__(self, breakers: BreakerStates | None, sinks: SinkStatsFn) -> None:
        self.breakers = breakers
        self.sinks = sinks

    def collect(self) -> Iterator[Any]:
        state = GaugeMetricFamily(
            "modelyard_breaker_state", "1 for the circuit breaker's current state", labels=["model", "state"]
        )
        for model, current in sorted((self.breakers() if self.breakers else {}).items()):
            for s in BREAKER_STATES:
                state.add_metric([model, s], 1.0 if current == s else 0.0)
        yield state
        stats = self.sinks()
        dropped = CounterMetricFamily(
            "modelyard_telemetry_dropped", "records dropped because the sink fell behind", labels=["sink"]
        )
        failed = CounterMetricFamily("modelyard_telemetry_failed", "records lost to sink write errors", labels=["sink"])
        written = CounterMetricFamily("modelyard_telemetry_written", "records written", labels=["sink"])
        depth = GaugeMetricFamily("modelyard_telemetry_queue_depth", "records waiting", labels=["sink"])
        for st in stats:
            dropped.add_metric([st.sink], st.dropped)
            failed.add_metric([st.sink], st.failed)
            written.add_metric([st.sink], st.written)
            depth.add_metric([st.sink], st.queued)
        yield from (dropped, failed, written, depth)


class _Counter:
    """A labelled counter kept as a plain dict (label values → total), exported at scrape time."""

    def __init__(self, name: str, doc: str, labels: list[str]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def family(self) -> CounterMetricFamily:
        out = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, total in list(self.values.items()):
            out.add_metric(list(key), total)
        return out


class _Histogram:
    """A labelled histogram kept as plain lists (per-bucket counts, then the sum), exported at scrape time."""

    def __init__(self, name: str, doc: str, labels: list[str], buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.buckets = name, doc, labels, buckets
        self.values: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        row = self.values.get(key)
        if row is None:
            row = self.values[key] = [0.0] * (len(self.buckets) + 2)  # buckets, +Inf, sum
        row[bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def family(self) -> HistogramMetricFamily:
        out = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, row in list(self.values.items()):
            cumulative, running = [], 0.0
            for le, count in zip([*map(floatToGoString, self.buckets), "+Inf"], row[:-1], strict=True):
                running += count
                cumulative.append((le, running))
            out.add_metric(list(key), cumulative, row[-1])
        return out


class _Series(Collector):
    def __init__(self, series: list[_Counter | _Histogram]) -> None:
        self.series = series

    def collect(self) -> Iterator[Any]:
        for s in self.series:
            yield s.family()


class TelemetryMetrics:
    """Request metrics in this engine's own registry.

    Counters and histograms are plain dicts updated on the request path and
    turned into Prometheus families when scraped (issue 14): prometheus_client's
    own ``Counter.labels(...).inc()`` takes a lock and re-checks its state on
    every call — ten of them per request cost ~20 µs of the gateway's CPU.
    Updates run on the event loop's thread; a scrape copies each dict first.
    """

    def __init__(self, *, breakers: BreakerStates | None = None, sinks: SinkStatsFn = list) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        by = ["model", "family", "router", "tenant"]
        self.requests = _Counter("modelyard_requests", "finished requests", [*by, "status", "endpoint"])
        self.errors = _Counter("modelyard_errors", "failed requests and attempts by error kind", ["kind", "scope"])
        self.latency = _Histogram(
            "modelyard_request_latency_seconds",
            "end-to-end request latency",
            ["model", "family", "router"],
            _LATENCY_BUCKETS,
        )
        self.ttft = _Histogram(
            "modelyard_ttft_seconds", "time to first token (streams)", ["model", "family"], _LATENCY_BUCKETS
        )
        self.attempt_latency = _Histogram(
            "modelyard_attempt_latency_seconds", "one model call", ["model", "status"], _LATENCY_BUCKETS
        )
        self.tokens = _Counter("modelyard_tokens", "tokens by direction", [*by, "direction"])
        self.cost = _Counter("modelyard_cost_usd", "spend in USD (every attempt)", by)
        self.escalated = _Counter("modelyard_escalated_requests", "requests with ≥1 cascade escalation", ["router"])
        self.fell_back = _Counter("modelyard_fallback_requests", "requests with ≥1 fallback", ["router"])
        self.events = _Counter("modelyard_events", "trace events (fallback, escalation, retry, breaker …)", ["kind"])
        self.feedback = _Counter("modelyard_feedback", "feedback received", ["kind"])
        series: list[_Counter | _Histogram] = [
            self.requests, self.errors, self.latency, self.ttft, self.attempt_latency, self.tokens, self.cost,
            self.escalated, self.fell_back, self.events, self.feedback,
        ]  # fmt: skip
        self.registry.register(_Series(series))
        self.registry.register(_ScrapeTime(breakers, sinks))

    def observe(self, rec: Record) -> None:
        model, family, router = rec.model or "-", rec.family or "-", rec.router or "direct"
        tenant = rec.tenant or "-"
        self.requests.inc((model, family, router, tenant, rec.status, rec.endpoint))
        if rec.status != "ok":
            self.errors.inc((rec.error_kind or "unknown", "request"))
        for a in rec.attempts:
            self.attempt_latency.observe((a.model, a.status), a.latency_ms / 1000.0)
            if a.error_kind:
                self.errors.inc((a.error_kind, "attempt"))
        self.latency.observe((model, family, router), rec.latency_ms / 1000.0)
        if rec.ttft_ms is not None:
            self.ttft.observe((model, family), rec.ttft_ms / 1000.0)
        self.tokens.inc((model, family, router, tenant, "in"), rec.input_tokens)
        self.tokens.inc((model, family, router, tenant, "out"), rec.output_tokens)
        self.cost.inc((model, family, router, tenant), rec.cost_usd)
        if rec.escalations:
            self.escalated.inc((router,))
        if rec.fallbacks:
            self.fell_back.inc((router,))
        for e in rec.events:
            self.events.inc((e.kind,))

    def observe_feedback(self, fb: Feedback) -> None:
        kind = "score" if fb.score is not None else (f"thumbs_{fb.thumbs}" if fb.thumbs else "label")
        self.feedback.inc((kind,))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
