"""One request, asked streamed or not: the two modes every resilience test runs in.

`ask_gateway` sends an OpenAI chat request over a real socket and reads what a
client sees — status, headers, every chunk's ``model``, the text, the
``modelyard`` trailer, an error body or in-stream error event — into one
`Reply`, whichever the mode. `ask_engine` does the same against an `Engine`
in-process (for tests on SIMULATED backends). Tests parametrize over `MODES`
and assert the same facts in both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest

from modelyard.engine import Engine, StreamSession
from modelyard.types import ChatRequest, RequestTrace, StreamChunk

__all__ = ["MODES", "EngineReply", "Mode", "Reply", "ask_engine", "ask_gateway", "mode"]

Mode = Literal["non-stream", "stream"]
MODES: tuple[Mode, ...] = ("non-stream", "stream")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> Mode:
    """Each test that takes ``mode`` runs twice: ``non-stream`` and ``stream``."""
    return request.param  # type: ignore[no-any-return]


@dataclass
class Reply:
    """What an OpenAI client received, normalised over the two modes."""

    status: int
    headers: dict[str, str]
    text: str = ""
    #: the ``model`` field of every chunk (stream) or of the completion (non-stream)
    models: list[str] = field(default_factory=list)
    #: the ``modelyard`` extension: on the last chunk, or on the completion
    trailer: dict[str, Any] | None = None
    finish_reason: str | None = None
    #: the error body: the HTTP error (status != 200) or the stream's error event
    error: dict[str, Any] | None = None
    chunks: int = 0

    @property
    def header_model(self) -> str | None:
        return self.headers.get("x-modelyard-model")

    def named(self) -> set[str | None]:
        """Every place the answering model is named: header, each chunk or body, the trailer."""
        return {self.header_model, *self.models, (self.trailer or {}).get("model")}


def ask_gateway(
    url: str,
    mode: Mode,
    text: str = "one two three",
    *,
    model: str = "default",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    **extra: Any,
) -> Reply:
    """POST /v1/chat/completions, streamed or not, and read the whole reply."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    if mode == "stream":
        body["stream"] = True
    with httpx.Client(timeout=timeout) as http, http.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        raw = response.read()
        reply = Reply(status=response.status_code, headers=dict(response.headers))
    if reply.status != 200:
        reply.error = json.loads(raw)["error"]
        return reply
    if mode == "non-stream":
        payload = json.loads(raw)
        choice = payload["choices"][0]
        reply.text = choice["message"]["content"] or ""
        reply.models = [payload["model"]]
        reply.trailer = payload.get("modelyard")
        reply.finish_reason = choice["finish_reason"]
        reply.chunks = 1
        return reply
    parts: list[str] = []
    for event in raw.decode().split("\n\n"):
        if not event.startswith("data: ") or event == "data: [DONE]":
            continue
        data = json.loads(event.removeprefix("data: "))
        if "error" in data:
            reply.error = data["error"]
            continue
        reply.chunks += 1
        reply.models.append(data["model"])
        for choice in data["choices"]:
            parts.append(choice["delta"].get("content") or "")
            reply.finish_reason = choice["finish_reason"] or reply.finish_reason
        if "modelyard" in data:
            reply.trailer = data["modelyard"]
    reply.text = "".join(parts)
    return reply


@dataclass
class EngineReply:
    """What the engine answered in-process, normalised over the two modes."""

    text: str
    #: who answered: the response's model, or ``session.model`` right after the first chunk
    model: str
    finish_reason: str | None
    trace: RequestTrace
    usage_seen: bool


async def ask_engine(engine: Engine, request: ChatRequest, mode: Mode) -> EngineReply:
    """``engine.chat`` or ``engine.stream`` (read to the end); errors raise in both."""
    if mode == "non-stream":
        done = await engine.chat(request)
        r = done.response
        return EngineReply(r.text, r.model, r.finish_reason, done.trace, True)
    session = await engine.stream(request.model_copy(update={"stream": True}))
    first_model: list[str] = []
    chunks = [c async for c in _first_then_rest(session, first_model)]
    assert first_model == [session.model], "the answering model changed after the first chunk"
    finish = next((c.finish_reason for c in reversed(chunks) if c.finish_reason), None)
    return EngineReply(
        "".join(c.text for c in chunks),
        first_model[0],
        finish,
        session.trace,
        any(c.usage is not None for c in chunks),
    )


async def _first_then_rest(session: StreamSession, first_model: list[str]) -> AsyncIterator[StreamChunk]:
    """Every chunk; ``first_model`` gets ``session.model`` as it was right after the first one."""
    async for chunk in session:
        if not first_model:
            first_model.append(session.model)
        yield chunk
