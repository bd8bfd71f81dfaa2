"""Gateway (HTTP server) settings."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GatewayKey", "GatewaySettings"]


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
