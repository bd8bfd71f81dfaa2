"""Telemetry sinks: JSON lines, SQLite (embedded default), PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.config.telemetry import JsonlSinkSpec, PostgresSinkSpec, SinkSpec, SqliteSinkSpec
from modelyard.telemetry.sinks.base import Item, RecordStore, Sink
from modelyard.telemetry.sinks.jsonl import JsonlSink, read_jsonl
from modelyard.telemetry.sinks.postgres import PostgresSink
from modelyard.telemetry.sinks.sql import MIGRATIONS, SqlStore
from modelyard.telemetry.sinks.sqlite import SqliteSink

__all__ = [
    "MIGRATIONS",
    "Item",
    "JsonlSink",
    "PostgresSink",
    "RecordStore",
    "Sink",
    "SqlStore",
    "SqliteSink",
    "create_sink",
    "read_jsonl",
]


def create_sink(spec: SinkSpec, env: Mapping[str, str] | None = None) -> Sink:
    if isinstance(spec, JsonlSinkSpec):
        return JsonlSink(spec.path)
    if isinstance(spec, SqliteSinkSpec):
        return SqliteSink(spec.resolved())
    assert isinstance(spec, PostgresSinkSpec)
    return PostgresSink(spec.dsn_env, schema=spec.schema_name, env=env)
