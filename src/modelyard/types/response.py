"""Responses: what a model said, what it cost and who said it."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.types.enums import Family
from modelyard.types.media import Segment

__all__ = [
    "ChatResponse",
    "Choice",
    "EmbeddingResponse",
    "ImageOutput",
    "StreamChunk",
    "Usage",
    "new_id",
]


#: the clock part of an id: microseconds since the epoch modulo 2^48 (12 hex digits; wraps every ~8.9 years)
_ID_CLOCK = (1 << 48) - 1


def new_id(prefix: str = "chatcmpl") -> str:
    """``<prefix>-`` and 24 hex digits: 12 from the wall clock in µs (see ``_ID_CLOCK``), then 12 random
    (48 bits, from ``os.urandom``).

    Ids made later sort after earlier ones (within a process and, clocks agreeing, across processes), so
    a database index over them — the records' primary key — gets each new id at its right edge instead of
    on a random page: SQLite inserts at 80,000 stored records cost ~19 µs per record instead of ~42.
    """
    return f"{prefix}-{time.time_ns() // 1000 & _ID_CLOCK:012x}{os.urandom(6).hex()}"


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
    width: int | None = None
    height: int | None = None
    revised_prompt: str | None = None
    segment: Segment | None = Field(default=None, description="a mask's RLE, score, bbox and area")


class Choice(BaseModel):
    """One of the ``n`` answers to a request that asked for several (OpenAI's ``n``).

    ``model`` is the concrete model that produced this choice when it was fanned
    out (a choice's own call may have fallen back); None when it is the
    response's ``model``.
    """

    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    text: str = ""
    finish_reason: str | None = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: list[float] | None = None
    model: str | None = None


class ChatResponse(BaseModel):
    """One model's complete answer, with usage and cost.

    ``model`` is the concrete model that answered (never a router name).
    ``simulated`` is true when a `sim` backend produced it, so nobody mistakes
    a simulation for a model.

    A single-choice answer lives in ``text``, ``finish_reason``, ``tool_calls``
    and ``logprobs``, and ``choices`` stays empty. An answer to ``n > 1`` lists
    every choice in ``choices`` (index order, ``choices[0]`` mirrored in the
    top-level fields, so single-choice readers see choice 0); ``usage`` and
    ``cost_usd`` then count every choice.
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
    choices: list[Choice] = Field(
        default_factory=list, description="every choice when n > 1 (index order); empty for one choice"
    )

    def all_choices(self) -> list[Choice]:
        """Every choice in index order; a single-choice answer is one `Choice` of index 0."""
        if self.choices:
            return self.choices
        return [
            Choice(
                index=0,
                text=self.text,
                finish_reason=self.finish_reason,
                tool_calls=self.tool_calls,
                logprobs=self.logprobs,
            )
        ]

    def as_chunks(self) -> list[StreamChunk]:
        """This whole answer as stream chunks: each choice's text, then its finish.

        The last chunk carries ``usage`` (every choice's). For one choice this is
        ``[text, finish + usage]``, the shape every provider's stream ends with.
        """
        choices = self.all_choices()
        chunks = [
            StreamChunk(index=c.index, text=c.text, tool_calls=c.tool_calls)
            for c in choices
            if c.text or c.tool_calls
        ]
        chunks += [StreamChunk(index=c.index, finish_reason=c.finish_reason) for c in choices]
        chunks[-1].usage = self.usage
        return chunks


class StreamChunk(BaseModel):
    """One piece of a streamed answer. The last chunk carries usage.

    ``index`` names the choice the piece belongs to (0 unless the request asked
    for ``n > 1``). With several choices each one ends with its own chunk
    carrying ``finish_reason``, and ``usage`` on the last chunk counts them all.
    """

    model_config = ConfigDict(extra="forbid")
    index: int = Field(default=0, ge=0, description="which choice this piece belongs to")
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
