"""A small HTTP/1.1 server on asyncio streams, written to misbehave on purpose.

It does what the loopback upstream needs and frameworks hide: keep-alive,
chunked event streams, a connection reset with no response, and closing a
stream half-way through. Requests are read with Content-Length or chunked
bodies; responses use Content-Length or chunked transfer encoding.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl

__all__ = ["HTTPRequest", "Handler", "PeerWatchingProtocol", "Responder", "serve_connection"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class HTTPRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = field(default=True, repr=False)


class PeerWatchingProtocol(asyncio.StreamReaderProtocol):
    """A stream protocol that also says when the client hung up.

    A handler that is only sleeping (a latency fault) reads nothing, so without
    this it would notice a client that gave up only when it next writes.
    """

    def __init__(self, reader: asyncio.StreamReader, callback: Callable[..., Awaitable[None]]) -> None:
        super().__init__(reader, callback)
        self.peer_gone = asyncio.Event()

    def eof_received(self) -> bool:
        self.peer_gone.set()
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer_gone.set()
        super().connection_lost(exc)


class Responder:
    """Writes one response to the connection, whole or as a chunked stream."""

    __slots__ = ("_peer_gone", "_reader", "_writer", "closed", "started")

    def __init__(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader | None = None) -> None:
        self._writer = writer
        self._reader = reader
        protocol = writer.transport.get_protocol()
        self._peer_gone = protocol.peer_gone if isinstance(protocol, PeerWatchingProtocol) else None
        self.started = False
        self.closed = False

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False (and the connection closed) if the client hung up meanwhile."""
        if self._peer_gone is None or self._reader is None:
            await asyncio.sleep(seconds)
            return True
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            try:
                async with asyncio.timeout(left):
                    await self._peer_gone.wait()
            except TimeoutError:
                return True
            if self._reader.at_eof():  # nothing pipelined is left: the client is gone
                self.closed = True
                self._writer.close()
                return False
            await asyncio.sleep(min(left, 0.01))  # half-closed with requests still queued
        return True

    def send(self, status: int, headers: dict[str, str], body: bytes, *, keep_alive: bool = True) -> None:
        head = _head(status, headers, keep_alive)
        self._writer.write(b"%scontent-length: %d\r\n\r\n%s" % (head, len(body), body))
        self.started = True

    async def start_stream(self, status: int, headers: dict[str, str]) -> None:
        self._writer.write(_head(status, headers, True) + b"transfer-encoding: chunked\r\n\r\n")
        self.started = True
        await self._writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        if data:
            self._writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await self._writer.drain()

    async def end_stream(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()

    async def drop(self) -> None:
        """Close after what was written so far, leaving the response unfinished."""
        self.closed = True
        await self._writer.drain()
        self._writer.close()

    def reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), no response at all."""
        self.closed = True
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()


Handler = Callable[[HTTPRequest, Responder], Awaitable[None]]


def _head(status: int, headers: dict[str, str], keep_alive: bool) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


async def _read_request(reader: asyncio.StreamReader) -> HTTPRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    path, _, qs = target.partition("?")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        body = await reader.readexactly(length) if length else b""
    conn = headers.get("connection", "").lower()
    keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
    return HTTPRequest(method, path, dict(parse_qsl(qs)), headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Serve requests on one connection until the client or a fault closes it."""
    try:
        while True:
            try:
                request = await _read_request(reader)
            except (ValueError, asyncio.LimitOverrunError):
                Responder(writer).send(400, {"content-type": "text/plain"}, b"bad request", keep_alive=False)
                break
            if request is None:
                break
            responder = Responder(writer, reader)
            await handler(request, responder)
            if responder.closed or not request.keep_alive:
                break
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if not writer.is_closing():
            writer.close()
