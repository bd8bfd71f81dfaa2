"""Responses: what a model said, what it cost and who said it."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.types.enums import Family

__all__ = [
    "ChatResponse",
    "EmbeddingResponse",
    "ImageOutput",
    "StreamChunk",
    "Usage",
    "new_id",
]


def new_id(prefix: str = "chatcmpl") -> str:
    """``<prefix>-`` and 24 random hex digits (96 bits; ~4× cheaper than slicing a uuid4)."""
    return f"{prefix}-{os.urandom(12).hex()}"


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            images=self.images + other.images,
        )


class ImageOutput(BaseModel):
    """An image or mask a model produced (LCM pictures, SAM masks)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["image", "mask"] = "image"
    b64: str | None = None
    url: str | None = None
    mime_type: str = "image/png"
    label: str | None = None


class ChatResponse(BaseModel):
    """One model's complete answer, with usage and cost.

    ``model`` is the concrete model that answered (never a router name).
    ``simulated`` is true when a `sim` backend produced it, so nobody mistakes
    a simulation for a model.
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(default_factory=new_id)
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    provider: str
    family: Family | None = None
    text: str = ""
    finish_reason: str | None = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    images: list[ImageOutput] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    logprobs: list[float] | None = Field(
        default=None, description="Per-token log-probabilities, when the provider returns them."
    )
    simulated: bool = False
    upstream_model: str | None = None


class StreamChunk(BaseModel):
    """One piece of a streamed answer. The last chunk carries usage."""

    model_config = ConfigDict(extra="forbid")
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: Usage | None = None
    logprobs: list[float] | None = None


class EmbeddingResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    provider: str
    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    simulated: bool = False
