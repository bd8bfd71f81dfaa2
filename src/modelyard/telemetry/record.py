"""The telemetry record: one per request, typed and versioned.

A `Record` is what every sink stores and what reports, the dashboard and
re-training read. ``schema_version`` is bumped on any incompatible change;
readers reject versions they do not know. It never holds an API key: the
tenant is the gateway key's *name* (or the caller's tenant hint), and error
strings pass through a secret scrubber before they get here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCHEMA_VERSION",
    "AttemptRecord",
    "EventRecord",
    "Feedback",
    "Record",
    "Rejected",
]

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttemptRecord(_Strict):
    """One call to one model: an answer, a cascade step, a judge, a retry, a hedge."""

    model: str
    provider: str
    status: Literal["ok", "error", "cancelled"]
    purpose: str = "answer"
    error_kind: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    simulated: bool = False
    choice: int | None = Field(
        default=None, description="the choice a fanned-out call answered (n > 1); None: every choice"
    )


class EventRecord(_Strict):
    """A fallback, escalation, retry, breaker transition, budget refusal … with its offset."""

    kind: str
    detail: str
    at_ms: float
    data: dict[str, Any] = Field(default_factory=dict)


class Rejected(_Strict):
    """A candidate a router looked at and dropped, with why."""

    name: str
    reason: str


class Feedback(_Strict):
    """What a user (or a reviewer) said about an answer, after the fact."""

    request_id: str
    time: float
    score: float | None = Field(default=None, ge=0, le=1)
    thumbs: Literal["up", "down"] | None = None
    label: str | None = Field(default=None, description="model or family that should have answered")
    comment: str | None = Field(default=None, max_length=2000)
    tenant: str | None = None

    @property
    def value(self) -> float | None:
        """One number in [0, 1]: the score, else thumbs up = 1 and down = 0."""
        if self.score is not None:
            return self.score
        if self.thumbs is not None:
            return 1.0 if self.thumbs == "up" else 0.0
        return None


class Record(_Strict):
    """Everything known about one finished request (see the module docstring)."""

    schema_version: Literal[1] = 1
    request_id: str
    time: float = Field(description="start, seconds since the epoch")
    tenant: str | None = None
    endpoint: str = "chat"
    stream: bool = False
    n: int = Field(default=1, description="choices asked for (OpenAI's n)")
    requested: str = Field(default="", description="the model or router name the caller asked for")
    status: Literal["ok", "error", "safe_default"] = "ok"
    error_kind: str | None = None
    error: str | None = None
    # routing
    router: str | None = Field(default=None, description="the router that made the final decision")
    route: list[str] = Field(default_factory=list, description="every router on the way")
    reason: str = ""
    confidence: float | None = None
    rejected: list[Rejected] = Field(default_factory=list)
    # who answered
    model: str | None = None
    family: str | None = None
    provider: str | None = None
    privacy_tier: str | None = Field(default=None, description="privacy tier of the answering model")
    simulated: bool = False
    # what happened
    attempts: list[AttemptRecord] = Field(default_factory=list)
    events: list[EventRecord] = Field(default_factory=list)
    fallbacks: int = 0
    escalations: int = 0
    retries: int = 0
    cascade: dict[str, Any] | None = None
    council: dict[str, Any] | None = None
    # numbers
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    quality: dict[str, float] = Field(default_factory=dict)
    quality_source: str | None = None
    # text, only with telemetry.capture_text
    prompt: str | None = None
    response: str | None = None
    text_truncated: bool = False
    # joined on read, never written with the record
    feedback: list[Feedback] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(exclude={"feedback"})

    @property
    def feedback_value(self) -> float | None:
        values = [v for f in self.feedback if (v := f.value) is not None]
        return sum(values) / len(values) if values else None

    @property
    def feedback_label(self) -> str | None:
        labels = [f.label for f in self.feedback if f.label]
        return labels[-1] if labels else None
