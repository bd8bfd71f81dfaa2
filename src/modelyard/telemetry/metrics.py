"""Prometheus metrics for one engine, in its own `CollectorRegistry` (no global state).

Counters and histograms are updated from each finished record; breaker
states and sink queues are read at scrape time through callbacks, so the
resilience layer and the sink workers need not know Prometheus exists.
Label values are bounded by config (models, routers, families, gateway key
names as tenants); ``tenant`` is ``-`` when a request named none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

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
        failed = CounterMetricFamily(
            "modelyard_telemetry_failed", "records lost to sink write errors", labels=["sink"]
        )
        written = CounterMetricFamily("modelyard_telemetry_written", "records written", labels=["sink"])
        depth = GaugeMetricFamily("modelyard_telemetry_queue_depth", "records waiting", labels=["sink"])
        for st in stats:
            dropped.add_metric([st.sink], st.dropped)
            failed.add_metric([st.sink], st.failed)
            written.add_metric([st.sink], st.written)
            depth.add_metric([st.sink], st.queued)
        yield from (dropped, failed, written, depth)


class TelemetryMetrics:
    def __init__(self, *, breakers: BreakerStates | None = None, sinks: SinkStatsFn = list) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        by = ["model", "family", "router", "tenant"]
        self.requests = Counter(
            "modelyard_requests", "finished requests", [*by, "status", "endpoint"], registry=r
        )
        self.errors = Counter(
            "modelyard_errors", "failed requests and attempts by error kind", ["kind", "scope"], registry=r
        )
        self.latency = Histogram(
            "modelyard_request_latency_seconds",
            "end-to-end request latency",
            ["model", "family", "router"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "modelyard_ttft_seconds",
            "time to first token (streams)",
            ["model", "family"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.attempt_latency = Histogram(
            "modelyard_attempt_latency_seconds",
            "one model call",
            ["model", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("modelyard_tokens", "tokens by direction", [*by, "direction"], registry=r)
        self.cost = Counter("modelyard_cost_usd", "spend in USD (every attempt)", by, registry=r)
        self.escalated = Counter(
            "modelyard_escalated_requests", "requests with ≥1 cascade escalation", ["router"], registry=r
        )
        self.fell_back = Counter(
            "modelyard_fallback_requests", "requests with ≥1 fallback", ["router"], registry=r
        )
        self.events = Counter(
            "modelyard_events", "trace events (fallback, escalation, retry, breaker …)", ["kind"], registry=r
        )
        self.feedback = Counter("modelyard_feedback", "feedback received", ["kind"], registry=r)
        r.register(_ScrapeTime(breakers, sinks))
        self._children: dict[tuple[Counter | Histogram, tuple[str, ...]], Any] = {}

    def _at(self, metric: Counter | Histogram, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: prometheus_client re-checks the labels on
        every call (~1 µs each, six per request), and label sets are few (see above)."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe(self, rec: Record) -> None:
        model, family, router = rec.model or "-", rec.family or "-", rec.router or "direct"
        tenant = rec.tenant or "-"
        self._at(self.requests, model, family, router, tenant, rec.status, rec.endpoint).inc()
        if rec.status != "ok":
            self._at(self.errors, rec.error_kind or "unknown", "request").inc()
        for a in rec.attempts:
            self._at(self.attempt_latency, a.model, a.status).observe(a.latency_ms / 1000.0)
            if a.error_kind:
                self._at(self.errors, a.error_kind, "attempt").inc()
        self._at(self.latency, model, family, router).observe(rec.latency_ms / 1000.0)
        if rec.ttft_ms is not None:
            self._at(self.ttft, model, family).observe(rec.ttft_ms / 1000.0)
        self._at(self.tokens, model, family, router, tenant, "in").inc(rec.input_tokens)
        self._at(self.tokens, model, family, router, tenant, "out").inc(rec.output_tokens)
        self._at(self.cost, model, family, router, tenant).inc(rec.cost_usd)
        if rec.escalations:
            self._at(self.escalated, router).inc()
        if rec.fallbacks:
            self._at(self.fell_back, router).inc()
        for e in rec.events:
            self._at(self.events, e.kind).inc()

    def observe_feedback(self, fb: Feedback) -> None:
        kind = "score" if fb.score is not None else (f"thumbs_{fb.thumbs}" if fb.thumbs else "label")
        self.feedback.labels(kind).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
