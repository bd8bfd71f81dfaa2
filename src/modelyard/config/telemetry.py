"""``telemetry:`` section — records, sinks, metrics, traces, prompt capture.

Every request leaves one record. Records go to the configured sinks off the
request path (bounded queue per sink; a sink that falls behind drops records
and counts the drops, it never slows a request). With no sinks configured the
records still feed the Prometheus metrics and the dashboard's live view.

Prompt and answer text are *not* recorded unless ``capture_text`` is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.config.values import HttpUrl
from modelyard.types import Family

__all__ = [
    "DEFAULT_DB",
    "JsonlSinkSpec",
    "PostgresSinkSpec",
    "ReportSettings",
    "RetentionSettings",
    "SinkSpec",
    "SqliteSinkSpec",
    "TelemetrySettings",
    "TracingSettings",
    "default_db_path",
]

#: what ``path: default`` of a sqlite sink means (see `default_db_path`)
DEFAULT_DB = "default"


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/modelyard/records.db``, else ``~/.local/share/modelyard/records.db``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "modelyard" / "records.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JsonlSinkSpec(_Strict):
    """One JSON object per line; ``-`` is stdout."""

    kind: Literal["jsonl"]
    path: str = "-"


class SqliteSinkSpec(_Strict):
    """An embedded SQLite file in WAL mode; ``default`` is the per-user data dir."""

    kind: Literal["sqlite"]
    path: str = DEFAULT_DB

    def resolved(self) -> Path:
        if self.path == DEFAULT_DB:
            return default_db_path()
        return Path(os.path.expandvars(self.path)).expanduser()


class PostgresSinkSpec(_Strict):
    """PostgreSQL via psycopg 3. The DSN is read from the environment variable ``dsn_env`` names."""

    kind: Literal["postgres"]
    dsn_env: str = Field(default="MODELYARD_PG_DSN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    schema_name: str = Field(default="public", alias="schema", pattern=r"^[a-z_][a-z0-9_]*$")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


SinkSpec = Annotated[JsonlSinkSpec | SqliteSinkSpec | PostgresSinkSpec, Field(discriminator="kind")]


class TracingSettings(_Strict):
    """OpenTelemetry spans, built from the finished trace (the request path pays nothing when off)."""

    enabled: bool = False
    exporter: Literal["none", "console", "otlp", "memory"] = "none"
    endpoint: HttpUrl | None = Field(default=None, description="OTLP/HTTP endpoint; default: the SDK's env vars")
    service_name: str = "modelyard"


class ReportSettings(_Strict):
    """What ``modelyard report`` counts as a cheap tier for the 80/20 check."""

    cheap_families: list[Family] = Field(default_factory=lambda: [Family.SLM, Family.MLM])
    cheap_below_median_price: bool = Field(
        default=True, description="also count models priced below the median of the models seen"
    )
    cheap_target: float = Field(default=0.8, ge=0, le=1, description="share of volume on cheap tiers")


class RetentionSettings(_Strict):
    """How long stored records live. Rollups (what the dashboard and reports read) are kept."""

    records_days: float | None = Field(
        default=None, gt=0, description="delete records older than this many days; None keeps them all"
    )
    prune_every_s: float = Field(default=300.0, gt=0, description="how often each sink's writer prunes")


class TelemetrySettings(_Strict):
    enabled: bool = True
    sinks: list[SinkSpec] = Field(default_factory=list)
    queue_size: int = Field(default=10_000, ge=1, description="records waiting per sink before drops")
    batch_size: int = Field(default=200, ge=1)
    flush_interval_ms: float = Field(default=500.0, gt=0)
    writer: Literal["auto", "thread", "process"] = Field(
        default="auto",
        description=(
            "who writes each sink: 'thread' — a thread of the gateway process; 'process' — that thread hands "
            "each batch to a child process owning the sink (open, write, prune, close), so database calls never "
            "compete with the event loop for the GIL (not for JSONL to stdout, or sink objects that cannot be "
            "rebuilt in a child); 'auto' — a process for sqlite and postgres sinks, a thread for jsonl and for "
            "sink objects passed in code. See docs/telemetry-scale.md"
        ),
    )
    recent: int = Field(default=500, ge=0, description="records kept in memory for the live dashboard")
    capture_text: bool = Field(default=False, description="store prompt and answer text (privacy!)")
    max_text_chars: int = Field(default=2000, ge=0)
    redact: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function applied to captured text before it is stored",
    )
    metrics: bool = True
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
