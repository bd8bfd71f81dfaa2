"""Telemetry: one record per request, sinks off the request path, metrics, traces, reports.

engine ──trace──▶ TelemetryHub ──▶ Record ──▶ bounded queue ──▶ sink thread (jsonl / sqlite / postgres)
                      │                  │                          └─(telemetry.writer: process)─▶ writer process
                      │                  └──▶ Prometheus registry (per engine)
                      └──▶ OpenTelemetry spans (when enabled), live ring for the dashboard

The names below are imported on first use (`modelyard._lazy`): the writer process
(``python -m modelyard.telemetry.writer_child``) loads records, the wire format and
its one sink, not the hub, metrics or the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
    from modelyard.telemetry.build import build_hub as build_hub
    from modelyard.telemetry.hub import TelemetryHub as TelemetryHub
    from modelyard.telemetry.metrics import TelemetryMetrics as TelemetryMetrics
    from modelyard.telemetry.record import SCHEMA_VERSION as SCHEMA_VERSION
    from modelyard.telemetry.record import AttemptRecord as AttemptRecord
    from modelyard.telemetry.record import EventRecord as EventRecord
    from modelyard.telemetry.record import Feedback as Feedback
    from modelyard.telemetry.record import Record as Record
    from modelyard.telemetry.record import Rejected as Rejected
    from modelyard.telemetry.sinks import JsonlSink as JsonlSink
    from modelyard.telemetry.sinks import PostgresSink as PostgresSink
    from modelyard.telemetry.sinks import RecordStore as RecordStore
    from modelyard.telemetry.sinks import Sink as Sink
    from modelyard.telemetry.sinks import SqliteSink as SqliteSink
    from modelyard.telemetry.sinks import create_sink as create_sink
    from modelyard.telemetry.worker import SinkStats as SinkStats
    from modelyard.telemetry.worker import SinkWorker as SinkWorker

#: public name → the module it is imported from, on first access.
_EXPORTS: dict[str, str] = {
    "SCHEMA_VERSION": "modelyard.telemetry.record",
    "AttemptRecord": "modelyard.telemetry.record",
    "EventRecord": "modelyard.telemetry.record",
    "Feedback": "modelyard.telemetry.record",
    "JsonlSink": "modelyard.telemetry.sinks",
    "PostgresSink": "modelyard.telemetry.sinks",
    "Record": "modelyard.telemetry.record",
    "RecordStore": "modelyard.telemetry.sinks",
    "Rejected": "modelyard.telemetry.record",
    "Sink": "modelyard.telemetry.sinks",
    "SinkStats": "modelyard.telemetry.worker",
    "SinkWorker": "modelyard.telemetry.worker",
    "SqliteSink": "modelyard.telemetry.sinks",
    "TelemetryHub": "modelyard.telemetry.hub",
    "TelemetryMetrics": "modelyard.telemetry.metrics",
    "build_hub": "modelyard.telemetry.build",
    "create_sink": "modelyard.telemetry.sinks",
}

__all__ = list(_EXPORTS)

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
