"""Gateway (HTTP server) settings."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["GatewayKey", "GatewaySettings", "ServerGC"]


class GatewayKey(BaseModel):
    """A client key for the gateway, stored as its SHA-256 hex digest only.

    Make one with ``modelyard hash-key`` (or ``sha256sum``); the plain key is
    never written to config.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="shown in records as the tenant")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tenant: str | None = None

    def matches(self, presented: str) -> bool:
        digest = hashlib.sha256(presented.encode()).hexdigest()
        return hmac.compare_digest(digest, self.sha256)


class ServerGC(BaseModel):
    """How a ``modelyard serve`` worker process sets Python's garbage collector once it has started.

    Applied only by the serving processes (`modelyard.server.gctune`); the library,
    ``create_app`` in tests and batch runs leave the interpreter's collector alone.
    Measured with ``bench/vs_litellm.py`` (c=16, same run, target ``modelyard-gc-default``
    for Python's defaults): with the defaults a full collection of the ~100k objects
    loaded at start-up ran every ~0.5 s and stalled every request in flight ~50 ms;
    frozen, with a young threshold of 7,000, added p99 fell from +64 to +13 ms and
    CPU per request by 17%.
    """

    model_config = ConfigDict(extra="forbid")
    freeze: bool = Field(
        default=True,
        description="after start-up (models built, warm-up done), move every object alive to the permanent "
        "generation (gc.freeze): the configuration, models and modules are never scanned again",
    )
    threshold: tuple[int, int, int] | None = Field(
        default=(7_000, 10, 10),
        description="gc.set_threshold(young, middle, old) for the serving process; null keeps Python's "
        "defaults (700, 10, 10). A larger young threshold collects less often; objects in cycles live "
        "a little longer (at most ~7,000 container objects, about a MB)",
    )

    @field_validator("threshold")
    @classmethod
    def _positive(cls, value: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError("each threshold must be >= 1 (null keeps Python's defaults)")
        return value


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    default_model: str = Field(default="default", description="used when a request names no model")
    api_keys: list[GatewayKey] = Field(default_factory=list)
    default_latency_budget_ms: float = Field(default=60_000, gt=0)
    max_request_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    drain_s: float = Field(
        default=10.0,
        ge=0,
        description="on SIGTERM/SIGINT, how long requests in flight may still finish while new ones get 503 "
        "with Retry-After; the server stops as soon as none is left. 0: stop at once",
    )
    drain_retry_after_s: float = Field(
        default=2.0,
        gt=0,
        description="the Retry-After (seconds) sent while draining: time for a restart, or for a load "
        "balancer to send the retry to another instance",
    )
    max_n: int = Field(
        default=8,
        ge=1,
        le=128,
        description="the most choices (OpenAI's n) one chat request may ask for; more is a 400 naming n. "
        "Each fanned-out choice is a model call, so this bounds what one request can spend",
    )
    gc: ServerGC = Field(
        default_factory=ServerGC,
        description="the garbage collector of `modelyard serve`'s worker processes (see ServerGC)",
    )
