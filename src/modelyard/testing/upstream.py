"""`LoopbackUpstream`: a real HTTP server that speaks OpenAI, Anthropic and Gemini.

Provider tests, gateway tests and benchmarks point real HTTP clients at it over
real sockets. It answers deterministically (an echo of the last user text, the
number of images it saw, word-count token usage) and misbehaves on a script
(`FaultPlan`): latency, error statuses with Retry-After, broken JSON,
connection resets, streams dropped half-way, content-filtered answers.

Three ways to run it::

    async with LoopbackUpstream() as up: ...            # in the test's event loop
    with LoopbackUpstream.running_in_thread() as up: ... # for sync code and benchmarks
    python -m modelyard.testing.upstream --port 9000     # as a process

Every request is recorded (headers included, so tests can check credentials
were sent); a record's repr hides credential headers, and nothing is logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from modelyard.testing.faults import Fault, FaultPlan
from modelyard.testing.http11 import HTTPRequest, PeerWatchingProtocol, Responder, serve_connection
from modelyard.testing.protocols.anthropic import AnthropicProtocol
from modelyard.testing.protocols.common import (
    ContextOverflow,
    ProtocolError,
    Reply,
    WireProtocol,
    answer,
    json_reply,
)
from modelyard.testing.protocols.gemini import GeminiProtocol
from modelyard.testing.protocols.media import MediaProtocol, media_operation
from modelyard.testing.protocols.openai import OpenAIProtocol
from modelyard.testing.threaded import serving_in_thread

__all__ = ["LoopbackUpstream", "RecordedRequest", "main"]

_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"}
)
_BROKEN = b'{"id": "loopback", "choices": [{"message": {"content": "unterminated'


@dataclass(slots=True)
class RecordedRequest:
    """A request the upstream received. ``repr`` names header keys only, never values."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        shown = sorted(k for k in self.headers if k not in _SECRET_HEADERS)
        return f"RecordedRequest({self.method} {self.path}, headers={shown}, {len(self.body)} bytes)"


class LoopbackUpstream:
    """A scriptable OpenAI/Anthropic/Gemini server on 127.0.0.1 (a free port by default).

    ``api_key``: when set, requests must carry it the protocol's way or get the
    protocol's auth error. ``context_window``: prompts over it (in words, plus
    85 per image) get the protocol's own context-length error; for the OpenAI
    protocol, the one of the server ``dialect`` names (``openai``, ``vllm``,
    ``sglang``, ``tgi``, ``llamacpp``, ``ollama``, ``lmstudio``: see
    `modelyard.testing.protocols.dialects`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        context_window: int | None = None,
        dialect: str = "openai",
        faults: FaultPlan | None = None,
        record_limit: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self._api_key = api_key
        self.context_window = context_window
        self.faults = faults or FaultPlan()
        self._records: deque[RecordedRequest] = deque(maxlen=record_limit)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._openai = OpenAIProtocol(dialect)
        self._anthropic = AnthropicProtocol()
        self._gemini = GeminiProtocol()
        self.media = MediaProtocol()  # OpenAI Images API and SAM 2 HTTP (encoder runs in .media.encoder_runs)

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"LoopbackUpstream({state}, auth={'on' if self._api_key else 'off'})"

    @property
    def url(self) -> str:
        """``http://host:port`` (no path); OpenAI clients use ``url + "/v1"``."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._records)

    @property
    def open_connections(self) -> int:
        """Client connections currently open (a cancelled stream must not leave one behind)."""
        return len(self._connections)

    def clear_requests(self) -> None:
        self._records.clear()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> PeerWatchingProtocol:
            return PeerWatchingProtocol(asyncio.StreamReader(limit=64 * 1024, loop=loop), self._connection)

        self._server = await loop.create_server(protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LoopbackUpstream:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(cls, **kwargs: Any) -> Iterator[LoopbackUpstream]:
        """Run on its own event loop in a daemon thread, for synchronous callers."""
        upstream = cls(**kwargs)
        with serving_in_thread(upstream.start, upstream.stop, name="loopback-upstream"):
            yield upstream

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve_connection(reader, writer, self._handle)
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._connections.discard(task)

    # -- one request -------------------------------------------------------------

    async def _handle(self, request: HTTPRequest, responder: Responder) -> None:
        self._records.append(
            RecordedRequest(request.method, request.path, request.query, request.headers, request.body)
        )
        fault = self.faults.take(request.path)
        if fault is not None and fault.connection_reset:
            responder.reset()
            return
        if (
            fault is not None
            and fault.latency_ms > 0
            and not await responder.pause(fault.latency_ms / 1000.0)
        ):
            return
        proto, op, model = _route(request, self._openai, self._anthropic, self._gemini)
        try:
            reply = self._reply(proto, op, model, request, fault)
        except ProtocolError as exc:
            reply = json_reply(exc.body, exc.status) if exc.body is not None else proto.error(
                exc.status, exc.message, exc.code
            )
        if fault is not None:
            reply = _apply(fault, reply)
            if fault.error_mid_stream is not None and reply.events is not None:
                cut = reply.events[: fault.error_mid_stream]
                message = fault.message or f"loopback fault: HTTP {fault.status_mid_stream} mid-stream"
                reply.events = [*cut, proto.stream_error(fault.status_mid_stream, message)]
        await _send(reply, responder, request, fault)

    def _reply(
        self, proto: WireProtocol, op: str, model: str, request: HTTPRequest, fault: Fault | None
    ) -> Reply:
        if not op:
            raise ProtocolError(404, f"no route for {request.method} {request.path}")
        if self._api_key is not None and not op.startswith("sam2"):  # SAM 2 carries its key in the body
            denied = proto.check_key(request.headers, request.query, self._api_key)
            if denied is not None:
                raise denied
        if fault is not None and fault.status is not None:
            if fault.body is not None:
                return _raw(fault.status, fault.body)
            wait = fault.retry_after if isinstance(fault.retry_after, int | float) else None
            message = fault.message or f"loopback fault: HTTP {fault.status}"
            return proto.error(fault.status, message, fault.code, retry_after=wait)
        if fault is not None and fault.body is not None:
            return _raw(200, fault.body)
        if op == "models":
            return self._openai.models()
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            raise ProtocolError(400, "the request body is not valid JSON") from None
        if op in ("images", "sam2_embed", "sam2_segment"):
            return self.media.reply(op, body, self._api_key)
        if op in ("embed", "batch_embed"):
            if proto is self._gemini:
                return self._gemini.embeddings(model, body, batch=op == "batch_embed")
            return self._openai.embeddings(body)
        if op == "stream" and request.query.get("alt") != "sse":
            raise ProtocolError(400, "the loopback streams Gemini only with alt=sse")
        turn = proto.parse_chat(body)
        assert isinstance(body, dict)  # parse_chat rejects anything else
        try:
            ans = answer(turn, context_window=self.context_window)
        except ContextOverflow as exc:
            raise proto.context_error(exc.tokens, exc.window) from None
        stream = op == "stream" or bool(body.get("stream"))
        model = model or body["model"]
        if fault is not None and fault.content_filter == "prompt":
            return proto.blocked_prompt(model, body, stream=stream)
        filtered = fault is not None and fault.content_filter is True
        return proto.chat_reply(model, body, turn, ans, stream=stream, filtered=filtered)


def _route(
    request: HTTPRequest, openai: WireProtocol, anthropic: WireProtocol, gemini: WireProtocol
) -> tuple[WireProtocol, str, str]:
    """(protocol, operation, model-from-path); operation "" when nothing matches."""
    path, method = request.path, request.method
    if method == "POST":
        if (media := media_operation(path)) is not None:
            return openai, media, ""
        if path.endswith("/chat/completions"):
            return openai, "chat", ""
        if path.endswith("/embeddings"):
            return openai, "embed", ""
        if path.endswith("/messages"):
            return anthropic, "chat", ""
        head, sep, action = path.rpartition(":")
        if sep and "/models/" in head:
            model = head.rsplit("/models/", 1)[1]
            ops = {
                "generateContent": "chat",
                "streamGenerateContent": "stream",
                "batchEmbedContents": "batch_embed",
                "embedContent": "embed",
            }
            return gemini, ops.get(action, ""), model
    elif method == "GET" and path.endswith("/models"):
        return openai, "models", ""
    return openai, "", ""


def _raw(status: int, body: bytes | str | dict[str, Any]) -> Reply:
    if isinstance(body, dict):
        return json_reply(body, status)
    data = body.encode() if isinstance(body, str) else body
    return Reply(status, data, None, {"content-type": "application/json"})


def _apply(fault: Fault, reply: Reply) -> Reply:
    """Layer a fault's header and body changes over the protocol's reply."""
    headers = {**reply.headers, **fault.headers}
    if fault.retry_after is not None:
        headers["retry-after"] = (
            f"{fault.retry_after:g}" if not isinstance(fault.retry_after, str) else fault.retry_after
        )
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    body, events = reply.body, reply.events
    if fault.malformed_json and reply.status == 200:
        if events is None:
            body = _BROKEN
        else:
            events = list(events)
            events[min(1, len(events) - 1)] = b"data: " + _BROKEN + b"\n\n"
    return Reply(reply.status, body, events, headers)


async def _send(reply: Reply, responder: Responder, request: HTTPRequest, fault: Fault | None) -> None:
    if reply.events is None:
        responder.send(reply.status, reply.headers, reply.body, keep_alive=request.keep_alive)
        return
    await responder.start_stream(reply.status, reply.headers)
    drop = fault.drop_mid_stream if fault is not None else None
    delay = fault.chunk_delay_ms / 1000.0 if fault is not None else 0.0
    if (
        fault is not None
        and fault.slow_first_byte_ms > 0
        and not await responder.pause(fault.slow_first_byte_ms / 1000.0)
    ):
        return
    for i, event in enumerate(reply.events):
        if drop is not None and i >= drop:
            await responder.drop()
            return
        if i and delay and not await responder.pause(delay):
            return
        await responder.send_chunk(event)
    await responder.end_stream()


def main(argv: list[str] | None = None) -> None:
    """``python -m modelyard.testing.upstream``: serve until interrupted."""
    parser = argparse.ArgumentParser(description="modelyard loopback upstream (OpenAI, Anthropic, Gemini)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--api-key-env", help="require the key held in this environment variable")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every response")
    parser.add_argument("--context-window", type=int, default=None)
    parser.add_argument(
        "--dialect", default="openai", help="whose context-overflow error the OpenAI protocol answers with"
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop if installed")
    args = parser.parse_args(argv)
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not key:
        parser.error(f"environment variable {args.api_key_env} is not set")
    plan = FaultPlan()
    if args.latency_ms > 0:
        plan.add(Fault(latency_ms=args.latency_ms, times=None))
    upstream = LoopbackUpstream(
        host=args.host,
        port=args.port,
        api_key=key,
        context_window=args.context_window,
        dialect=args.dialect,
        faults=plan,
    )

    async def serve() -> None:
        async with upstream:
            print(f"loopback upstream listening on {upstream.url}", flush=True)
            await asyncio.Event().wait()

    runner: Any = asyncio.run
    if args.uvloop:
        import uvloop

        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve())


if __name__ == "__main__":
    main()
