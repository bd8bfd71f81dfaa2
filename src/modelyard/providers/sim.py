"""SIMULATED backend: no model runs here.

`SimProvider` fakes a model's latency, token counts, failures and text so that
demos, load tests and router tests can run with no weights and no network.
Every response it makes has ``simulated=True`` (the gateway adds the header
``x-modelyard-simulated: true``), its text starts with ``[simulated <name>]``
unless configured otherwise, and the engine logs a warning naming each
simulated model at start-up. It must never be passed off as a model.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import (
    ConnectionFailedError,
    ContentFilteredError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamServerError,
)
from modelyard.providers.base import Provider
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    Family,
    ImageOutput,
    StreamChunk,
    Usage,
)

__all__ = ["SimOptions", "SimProvider"]

FailureKind = Literal["server", "timeout", "rate_limited", "connection", "malformed", "content_filtered"]

# A 1×1 transparent PNG: the simulated "image" for lcm and sam families.
_PNG_1X1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
    )
).decode()


class SimOptions(BaseModel):
    """``options:`` of a ``provider: sim`` model."""

    model_config = ConfigDict(extra="forbid")
    latency_ms: float = Field(default=0.0, ge=0, description="median simulated latency")
    jitter: float = Field(default=0.0, ge=0, le=3, description="log-normal sigma around latency_ms")
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    failure_kind: FailureKind = "server"
    output_tokens: int = Field(default=24, ge=1)
    text: str | None = Field(default=None, description="fixed answer; default echoes the prompt")
    mode: Literal["echo", "canned"] = "echo"
    script: list[str] | None = Field(
        default=None,
        min_length=1,
        description="answers given in turn, one per call, cycling (a scripted simulation, e.g. a "
        "reviewer that rejects then approves); overrides text and mode",
    )
    label: bool = Field(default=True, description="prefix answers with '[simulated <model>]'")
    stream_chunks: int = Field(default=6, ge=1)
    seed: int | None = None
    embedding_dim: int = Field(default=32, ge=2)


class SimProvider(Provider):
    """A SIMULATED model: configurable latency, tokens, failures and text."""

    kind = "sim"
    simulated = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.options = self.parse_options(SimOptions)
        self._rng = random.Random(self.options.seed)
        self._turn = 0

    def _answer(self, request: ChatRequest) -> str:
        o = self.options
        if o.script:
            body = o.script[self._turn % len(o.script)]
            self._turn += 1
        elif o.text is not None and (o.mode == "canned" or o.text):
            body = o.text
        else:
            prompt = " ".join(request.last_user_text.split())
            body = f"echo: {prompt[:400]}" if prompt else "echo: (no text)"
        return f"[simulated {self.spec.name}] {body}" if o.label else body

    def _usage(self, request: ChatRequest, text: str) -> Usage:
        images = 1 if self.spec.family in (Family.LCM, Family.SAM) else 0
        out = min(self.options.output_tokens, request.output_token_limit or 10**9)
        return Usage(
            input_tokens=request.estimate_input_tokens(),
            output_tokens=max(out, 1),
            images=images + len(request.images),
        )

    def _images(self) -> list[ImageOutput]:
        if self.spec.family is Family.LCM:
            return [ImageOutput(kind="image", b64=_PNG_1X1, label="simulated image")]
        if self.spec.family is Family.SAM:
            return [ImageOutput(kind="mask", b64=_PNG_1X1, label="simulated mask")]
        return []

    async def _delay(self, timeout: float | None) -> None:
        o = self.options
        if o.latency_ms <= 0:
            return
        seconds = o.latency_ms / 1000.0
        if o.jitter:
            seconds *= self._rng.lognormvariate(0.0, o.jitter)
        if timeout is not None and seconds > timeout:
            await asyncio.sleep(timeout)
            raise ProviderTimeoutError(
                f"simulated model {self.spec.name!r} did not answer within {timeout:.3f}s",
                model=self.spec.name,
                provider=self.kind,
            )
        await asyncio.sleep(seconds)

    def _maybe_fail(self) -> None:
        o = self.options
        if o.failure_rate <= 0 or self._rng.random() >= o.failure_rate:
            return
        msg = f"simulated {o.failure_kind} failure of {self.spec.name!r}"
        errors: dict[str, type[ProviderError]] = {
            "server": UpstreamServerError,
            "timeout": ProviderTimeoutError,
            "connection": ConnectionFailedError,
            "malformed": MalformedResponseError,
            "content_filtered": ContentFilteredError,
        }
        if o.failure_kind == "rate_limited":
            raise RateLimitedError(msg, retry_after=1.0, model=self.spec.name, provider=self.kind)
        raise errors[o.failure_kind](msg, model=self.spec.name, provider=self.kind)

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        await self._delay(timeout)
        self._maybe_fail()
        text = self._answer(request)
        response = ChatResponse(
            model=self.spec.name,
            provider=self.kind,
            text=text,
            usage=self._usage(request, text),
            images=self._images(),
        )
        return self.finish(response)

    async def stream(
        self, request: ChatRequest, *, timeout: float | None = None
    ) -> AsyncIterator[StreamChunk]:
        await self._delay(timeout)
        self._maybe_fail()
        text = self._answer(request)
        words = text.split(" ")
        n = self.options.stream_chunks
        size = max(1, -(-len(words) // n))
        for i in range(0, len(words), size):
            piece = " ".join(words[i : i + size])
            yield StreamChunk(text=piece if i == 0 else " " + piece)
            await asyncio.sleep(0)
        yield StreamChunk(finish_reason="stop", usage=self._usage(request, text))

    async def embed(self, texts: list[str], *, timeout: float | None = None) -> EmbeddingResponse:
        """Deterministic pseudo-vectors from a hash: shaped like embeddings, meaning nothing."""
        await self._delay(timeout)
        self._maybe_fail()
        dim = self.options.embedding_dim
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dim)]
            norm = sum(v * v for v in raw) ** 0.5 or 1.0
            vectors.append([v / norm for v in raw])
        usage = Usage(input_tokens=sum(max(1, len(t) // 4) for t in texts))
        return EmbeddingResponse(
            model=self.spec.name,
            provider=self.kind,
            vectors=vectors,
            usage=usage,
            cost_usd=self.cost(usage),
            simulated=True,
        )
