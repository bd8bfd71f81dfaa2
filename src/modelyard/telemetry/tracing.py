"""OpenTelemetry spans, built after the fact from the finished trace and record.

Nothing runs on the request path while it is served: at the end, one span
for the request, a ``route`` span for the routing phase (start of request →
first model call) with one child per router on the path, one span per model
attempt at its real start offset and duration, and the trace's events
(fallback, escalation, retry, breaker) as span events. The tracer provider
belongs to this object, never to the process-global OpenTelemetry state.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from modelyard.config.telemetry import TracingSettings
from modelyard.errors import ModelLoadError
from modelyard.telemetry.record import Record
from modelyard.types import RequestTrace

__all__ = ["SpanBuilder"]

OTLP_HINT = "pip install opentelemetry-exporter-otlp-proto-http"


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class SpanBuilder:
    def __init__(self, settings: TracingSettings, *, exporter: SpanExporter | None = None) -> None:
        self.settings = settings
        self.memory: InMemorySpanExporter | None = None
        self.provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        if exporter is None:
            exporter = self._exporter(settings)
        if exporter is not None:
            batch = settings.exporter == "otlp"
            self.provider.add_span_processor(
                BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            )
        self.tracer = self.provider.get_tracer("modelyard.telemetry")

    def _exporter(self, settings: TracingSettings) -> SpanExporter | None:
        if settings.exporter == "memory":
            self.memory = InMemorySpanExporter()
            return self.memory
        if settings.exporter == "console":
            return ConsoleSpanExporter()
        if settings.exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter,
                )
            except ImportError:
                raise ModelLoadError(f"tracing.exporter: otlp needs the OTLP exporter: {OTLP_HINT}") from None
            otlp: SpanExporter = (
                OTLPSpanExporter(endpoint=settings.endpoint) if settings.endpoint else OTLPSpanExporter()
            )
            return otlp
        return None

    def emit(self, trace: RequestTrace, record: Record) -> None:
        start = trace.started
        end = start + record.latency_ms / 1000.0
        attrs: dict[str, Any] = {
            "modelyard.request_id": record.request_id,
            "modelyard.requested": record.requested,
            "modelyard.status": record.status,
            "modelyard.cost_usd": record.cost_usd,
            "modelyard.input_tokens": record.input_tokens,
            "modelyard.output_tokens": record.output_tokens,
            "modelyard.simulated": record.simulated,
            "modelyard.route": " → ".join(record.route),
        }
        for key in ("tenant", "model", "family", "router", "error_kind"):
            value = getattr(record, key)
            if value is not None:
                attrs[f"modelyard.{key}"] = value
        if record.ttft_ms is not None:
            attrs["modelyard.ttft_ms"] = record.ttft_ms
        root = self.tracer.start_span(
            f"modelyard.{record.endpoint}", kind=SpanKind.SERVER, start_time=_ns(start), attributes=attrs
        )
        ctx = set_span_in_context(root)
        for e in record.events:
            root.add_event(e.kind, {"detail": e.detail}, timestamp=_ns(start + e.at_ms / 1000.0))
        starts = [a.start_ms for a in trace.attempts if a.start_ms is not None]
        routed_ms = min(starts) if starts else record.latency_ms
        route = self.tracer.start_span(
            "modelyard.route",
            context=ctx,
            start_time=_ns(start),
            attributes={"modelyard.reason": record.reason, "modelyard.rejected": len(record.rejected)},
        )
        route_ctx = set_span_in_context(route)
        route_end = _ns(start + routed_ms / 1000.0)
        for hop in record.route:
            self.tracer.start_span(
                f"modelyard.route.{hop}",
                context=route_ctx,
                start_time=_ns(start),
                attributes={"modelyard.router": hop},
            ).end(end_time=route_end)
        route.end(end_time=route_end)
        for a in trace.attempts:
            a_start = start + (a.start_ms if a.start_ms is not None else 0.0) / 1000.0
            span = self.tracer.start_span(
                "modelyard.attempt",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=_ns(a_start),
                attributes={
                    "modelyard.model": a.model,
                    "modelyard.provider": a.provider,
                    "modelyard.purpose": a.purpose,
                    "modelyard.status": a.status,
                    "modelyard.cost_usd": a.cost_usd,
                    "modelyard.input_tokens": a.usage.input_tokens,
                    "modelyard.output_tokens": a.usage.output_tokens,
                    "modelyard.simulated": a.simulated,
                },
            )
            if a.status == "error":
                span.set_attribute("modelyard.error_kind", a.error_kind or "")
                span.set_status(Status(StatusCode.ERROR, a.error_kind or "error"))
            span.end(end_time=_ns(a_start + a.latency_ms / 1000.0))
        if record.status == "error":
            root.set_status(Status(StatusCode.ERROR, record.error_kind or "error"))
        root.end(end_time=_ns(end))

    def shutdown(self) -> None:
        self.provider.shutdown()
