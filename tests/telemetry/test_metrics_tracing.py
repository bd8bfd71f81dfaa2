"""Prometheus metrics per engine, and OpenTelemetry spans from the in-memory exporter."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelyard.types import ChatRequest, RoutingHints
from tests.telemetry.conftest import SIM, MakeEngine

YAML = (
    SIM
    + """
  flaky: {family: slm, provider: sim, options: {failure_rate: 1.0}}
  terse: {family: slm, provider: sim, options: {text: "ok", label: false}}
routers:
  default: {kind: fixed, target: tiny}
  cheap-first:
    kind: cascade
    judge: {kind: heuristic, min_chars: 40}
    gate: 0.7
    steps: [terse, large]
resilience:
  fallbacks: {flaky: [tiny]}
  breakers: {flaky: {failure_threshold: 1}}
"""
)


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(all_: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return sum(v for (n, ls), v in all_.items() if n == name and labels.items() <= dict(ls).items())


async def test_metrics_count_requests_cost_escalations_fallbacks_and_breakers(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(YAML)
    other = make_engine(YAML)  # a second engine keeps its own registry
    for _ in range(3):
        await engine.chat(ChatRequest.from_text("hi", model="default", hints=RoutingHints(tenant="acme")))
    await engine.chat(ChatRequest.from_text("hi", model="cheap-first"))
    await engine.chat(ChatRequest.from_text("hi", model="flaky"))
    session = await engine.stream(ChatRequest.from_text("hi", model="default"))
    _ = [c async for c in session]
    assert engine.telemetry is not None and engine.telemetry.metrics is not None
    m = samples(engine.telemetry.metrics.exposition())
    assert value(m, "modelyard_requests_total", model="tiny", tenant="acme", router="default") == 3
    assert value(m, "modelyard_requests_total") == 6
    assert value(m, "modelyard_escalated_requests_total", router="cheap-first") == 1
    assert value(m, "modelyard_fallback_requests_total") == 1
    assert value(m, "modelyard_errors_total", kind="server", scope="attempt") == 1
    records = list(engine.telemetry.recent)
    assert value(m, "modelyard_cost_usd_total") == pytest.approx(sum(r.cost_usd for r in records))
    assert value(m, "modelyard_tokens_total", direction="out") == sum(r.output_tokens for r in records)
    assert value(m, "modelyard_request_latency_seconds_count", model="tiny") == 5
    assert value(m, "modelyard_ttft_seconds_count") == 1
    assert value(m, "modelyard_breaker_state", model="flaky", state="open") == 1
    assert value(m, "modelyard_breaker_state", model="tiny", state="closed") == 1
    assert other.telemetry is not None and other.telemetry.metrics is not None
    assert value(samples(other.telemetry.metrics.exposition()), "modelyard_requests_total") == 0


async def test_spans_per_request_route_and_attempt(make_engine: MakeEngine) -> None:
    engine = make_engine(YAML + "telemetry: {tracing: {enabled: true, exporter: memory}}\n")
    assert engine.telemetry is not None and engine.telemetry.spans is not None
    exporter = engine.telemetry.spans.memory
    assert exporter is not None
    done = await engine.chat(ChatRequest.from_text("hi", model="cheap-first"))
    spans = exporter.get_finished_spans()
    by_name = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    root = by_name["modelyard.chat"][0]
    assert root.attributes is not None and root.attributes["modelyard.request_id"] == done.trace.request_id
    assert root.attributes["modelyard.model"] == "large"
    attempts = by_name["modelyard.attempt"]
    assert [a.attributes["modelyard.model"] for a in attempts] == ["terse", "large"]  # type: ignore[index]
    assert all(a.parent is not None and a.parent.span_id == root.context.span_id for a in attempts)
    assert [e.name for e in root.events] == ["escalation"]
    assert (
        by_name["modelyard.route.cheap-first"][0].parent.span_id
        == by_name["modelyard.route"][0].context.span_id
    )  # type: ignore[union-attr]
    # real offsets: the second step starts after the first ends, all inside the request
    first, second = sorted(attempts, key=lambda s: s.start_time or 0)
    assert root.start_time is not None and root.end_time is not None
    assert root.start_time <= first.start_time <= first.end_time <= second.start_time  # type: ignore[operator]
    assert second.end_time <= root.end_time + 1_000_000  # type: ignore[operator]
    for a, t in zip((first, second), done.trace.attempts, strict=True):
        assert (a.end_time - a.start_time) / 1e6 == pytest.approx(t.latency_ms, abs=0.01)  # type: ignore[operator]


async def test_no_spans_when_tracing_is_off(make_engine: MakeEngine) -> None:
    engine = make_engine(YAML)
    assert engine.telemetry is not None and engine.telemetry.spans is None
