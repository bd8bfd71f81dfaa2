"""Telemetry: one record per request, sinks off the request path, metrics, traces, reports.

engine ──trace──▶ TelemetryHub ──▶ Record ──▶ bounded queue ──▶ sink thread (jsonl / sqlite / postgres)
                      │                  │                          └─(telemetry.writer: process)─▶ writer process
                      │                  └──▶ Prometheus registry (per engine)
                      └──▶ OpenTelemetry spans (when enabled), live ring for the dashboard
"""

from modelyard.telemetry.build import build_hub
from modelyard.telemetry.hub import TelemetryHub
from modelyard.telemetry.metrics import TelemetryMetrics
from modelyard.telemetry.record import SCHEMA_VERSION, AttemptRecord, EventRecord, Feedback, Record, Rejected
from modelyard.telemetry.sinks import JsonlSink, PostgresSink, RecordStore, Sink, SqliteSink, create_sink
from modelyard.telemetry.worker import SinkStats, SinkWorker

__all__ = [
    "SCHEMA_VERSION",
    "AttemptRecord",
    "EventRecord",
    "Feedback",
    "JsonlSink",
    "PostgresSink",
    "Record",
    "RecordStore",
    "Rejected",
    "Sink",
    "SinkStats",
    "SinkWorker",
    "SqliteSink",
    "TelemetryHub",
    "TelemetryMetrics",
    "build_hub",
    "create_sink",
]
