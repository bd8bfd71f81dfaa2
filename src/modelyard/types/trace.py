"""What happened while serving one request: attempts, fallbacks, escalations.

The engine fills a `RequestTrace` as the request flows; telemetry turns it into
a record once the request ends. Nothing here does I/O.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.types.decision import Decision
from modelyard.types.response import Usage

__all__ = ["Attempt", "RequestTrace", "TraceEvent"]


class Attempt(BaseModel):
    """One call to one model (a retry is another attempt)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    provider: str
    status: Literal["ok", "error", "cancelled"]
    error_kind: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    purpose: str = Field(default="answer", description="answer / cascade-step / judge / review / hedge …")
    simulated: bool = False
    start_ms: float | None = Field(default=None, description="offset from the request's start (for spans)")
    choice: int | None = Field(
        default=None,
        description="the choice this call answered when n > 1 was fanned out; None when it answered "
        "every choice (n = 1, or n passed to the provider)",
    )


class TraceEvent(BaseModel):
    """A notable moment: a fallback, an escalation, a breaker opening, a budget refusal."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    detail: str
    at_ms: float
    data: dict[str, Any] = Field(default_factory=dict)


class RequestTrace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str
    started: float = Field(default_factory=time.time)
    started_mono: float = Field(default_factory=time.monotonic, exclude=True)
    tenant: str | None = None
    requested_model: str = ""
    stream: bool = False
    endpoint: str = "chat"
    n: int = Field(default=1, ge=1, description="choices the request asked for")
    decision: Decision | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    events: list[TraceEvent] = Field(default_factory=list)
    ttft_ms: float | None = None
    latency_ms: float | None = None
    status: Literal["ok", "error", "safe_default"] = "ok"
    error_kind: str | None = None
    error: str | None = None
    answered_by: str | None = None
    quality: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started_mono) * 1000.0

    def event(self, kind: str, detail: str, **data: Any) -> None:
        self.events.append(TraceEvent(kind=kind, detail=detail, at_ms=self.elapsed_ms(), data=data))

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for a in self.attempts:
            total = total + a.usage
        return total
