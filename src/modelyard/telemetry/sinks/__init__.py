"""Telemetry sinks: JSON lines, SQLite (embedded default), PostgreSQL.

The sink classes are imported on first use (`modelyard._lazy`): a writer process
that runs one SQLite sink does not import the PostgreSQL or JSON-lines modules, nor
the config package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
    from modelyard.config.telemetry import SinkSpec
    from modelyard.telemetry.sinks.base import Item as Item
    from modelyard.telemetry.sinks.base import RecordStore as RecordStore
    from modelyard.telemetry.sinks.base import Sink as Sink
    from modelyard.telemetry.sinks.jsonl import JsonlSink as JsonlSink
    from modelyard.telemetry.sinks.jsonl import read_jsonl as read_jsonl
    from modelyard.telemetry.sinks.postgres import PostgresSink as PostgresSink
    from modelyard.telemetry.sinks.sql import MIGRATIONS as MIGRATIONS
    from modelyard.telemetry.sinks.sql import SqlStore as SqlStore
    from modelyard.telemetry.sinks.sqlite import SqliteSink as SqliteSink

#: public name → the module it is imported from, on first access (`create_sink` is defined here).
_EXPORTS: dict[str, str] = {
    "MIGRATIONS": "modelyard.telemetry.sinks.sql",
    "Item": "modelyard.telemetry.sinks.base",
    "JsonlSink": "modelyard.telemetry.sinks.jsonl",
    "PostgresSink": "modelyard.telemetry.sinks.postgres",
    "RecordStore": "modelyard.telemetry.sinks.base",
    "Sink": "modelyard.telemetry.sinks.base",
    "SqlStore": "modelyard.telemetry.sinks.sql",
    "SqliteSink": "modelyard.telemetry.sinks.sqlite",
    "read_jsonl": "modelyard.telemetry.sinks.jsonl",
}

__all__ = [*_EXPORTS, "create_sink"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)


def create_sink(spec: SinkSpec, env: Mapping[str, str] | None = None) -> Sink:
    """The sink a config entry (``telemetry.sinks[i]``) describes; ``env`` supplies a PostgreSQL DSN variable."""
    from modelyard.config.telemetry import JsonlSinkSpec, PostgresSinkSpec, SqliteSinkSpec
    from modelyard.telemetry.sinks.jsonl import JsonlSink
    from modelyard.telemetry.sinks.postgres import PostgresSink
    from modelyard.telemetry.sinks.sqlite import SqliteSink

    if isinstance(spec, JsonlSinkSpec):
        return JsonlSink(spec.path)
    if isinstance(spec, SqliteSinkSpec):
        return SqliteSink(spec.resolved())
    assert isinstance(spec, PostgresSinkSpec)
    return PostgresSink(spec.dsn_env, schema=spec.schema_name, env=env)
