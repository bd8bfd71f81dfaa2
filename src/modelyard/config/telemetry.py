"""``telemetry:`` section — records, sinks, metrics, traces.

Placeholder shape; the telemetry layer fills it in.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
