"""OpenAI ``chat.completion.chunk`` server-sent events for a streamed answer.

The wire order is what the OpenAI SDKs expect: a first chunk with the role,
one chunk per content delta, a chunk with ``finish_reason``, a usage chunk
(``choices: []``) when the client asked for ``stream_options.include_usage``,
then ``data: [DONE]``. With ``n > 1`` every choice gets its role chunk, its
deltas carry their choice ``index`` (choices interleave) and each choice ends
with its own ``finish_reason`` chunk; the usage chunk counts every choice. The last chunk before ``[DONE]`` carries the
``modelyard`` field (model, route, cost) — cost is only known once the
upstream stream has ended, so the finish chunk is held back until then.

A `ModelyardError` after the first byte cannot change the status any more, so
it ends the stream with one ``data: {"error": {...}}`` event (the OpenAI SDK
raises ``APIError`` on it) and no ``[DONE]``. A client that disconnects
cancels the upstream stream instead of letting it run to the end unread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from modelyard.errors import ModelyardError
from modelyard.server.disconnect import unless_client_leaves
from modelyard.server.errors import Redactor, describe, error_body
from modelyard.server.jsonio import dumps
from modelyard.types import StreamChunk, Usage

__all__ = ["DONE", "ChunkFramer", "SSEResponse", "usage_body"]

log = logging.getLogger("modelyard.server")

DONE = b"data: [DONE]\n\n"


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


class ChunkFramer:
    """Builds the ``data:`` events of one stream; id, created, model and the number of choices stay fixed."""

    def __init__(self, completion_id: str, created: int, model: str, *, choices: int = 1) -> None:
        self.id = completion_id
        self.created = created
        self.model = model
        self.choices = choices

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return _event(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
        )

    def role(self) -> bytes:
        """The opening chunk of each choice."""
        return b"".join(
            self._chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            for i in range(self.choices)
        )

    def delta(self, chunk: StreamChunk) -> bytes | None:
        delta: dict[str, Any] = {}
        if chunk.text:
            delta["content"] = chunk.text
        if chunk.tool_calls:
            delta["tool_calls"] = chunk.tool_calls
        if not delta:
            return None
        return self._chunk([{"index": chunk.index, "delta": delta, "finish_reason": None}])

    def finish(self, reasons: dict[int, str], extension: dict[str, Any] | None) -> bytes:
        """Each choice's closing chunk (``stop`` where none was given); ``extension`` rides on the last."""
        last = self.choices - 1
        return b"".join(
            self._chunk(
                [{"index": i, "delta": {}, "finish_reason": reasons.get(i) or "stop"}],
                **({"modelyard": extension} if extension is not None and i == last else {}),
            )
            for i in range(self.choices)
        )

    def usage(self, usage: Usage, extension: dict[str, Any]) -> bytes:
        return self._chunk([], usage=usage_body(usage), modelyard=extension)


class SSEResponse:
    """ASGI response streaming one chat answer as OpenAI SSE.

    ``first`` is the chunk the endpoint already pulled (so routing and connect
    errors could still become a proper HTTP status). ``finish`` is called once
    the upstream stream has ended and returns the ``modelyard`` extension.
    """

    def __init__(
        self,
        chunks: AsyncIterator[StreamChunk],
        first: StreamChunk | None,
        *,
        framer: ChunkFramer,
        headers: list[tuple[bytes, bytes]],
        include_usage: bool,
        finish: Callable[[], dict[str, Any]],
        on_error: Callable[[ModelyardError | None], None],
        close: Callable[[], Any],
        redact: Redactor,
    ) -> None:
        self.chunks = chunks
        self.first = first
        self.framer = framer
        self.headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *headers,
        ]
        self.include_usage = include_usage
        self.finish = finish
        self.on_error = on_error
        self.close = close
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        try:
            await unless_client_leaves(receive, self._pump(send))  # a client gone cancels the upstream stream
        finally:
            closing = asyncio.ensure_future(self.close())
            try:
                await asyncio.shield(closing)  # closed even when this task is cancelled (shutdown)
            except asyncio.CancelledError:
                await closing
                raise

    async def _pump(self, send: Send) -> None:
        async def emit(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        framer = self.framer
        reasons: dict[int, str] = {}  # finish_reason per choice index
        usage: Usage | None = None

        def take(chunk: StreamChunk) -> bytes:
            """The chunk's event (b"" when it has no delta); notes its finish reason and usage."""
            nonlocal usage
            if chunk.finish_reason is not None:
                reasons[chunk.index] = chunk.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
            return framer.delta(chunk) or b""

        try:
            # the role chunk goes out with the first chunk (already pulled by the endpoint): one send
            await emit(framer.role() + (take(self.first) if self.first is not None else b""))
            async for chunk in self.chunks:
                if event := take(chunk):
                    await emit(event)
            extension = self.finish()
            tail = framer.finish(reasons, None if self.include_usage else extension)
            if self.include_usage:
                tail += framer.usage(usage or Usage(), extension)
            await send({"type": "http.response.body", "body": tail + DONE, "more_body": False})
        except ModelyardError as exc:
            self.on_error(exc)
            _, body, _ = describe(exc, self.redact)
            await send({"type": "http.response.body", "body": _event(body), "more_body": False})
        except Exception:
            log.exception("stream failed after the response started")
            self.on_error(None)
            body = error_body("internal error while streaming", "api_error")
            await send({"type": "http.response.body", "body": _event(body), "more_body": False})
