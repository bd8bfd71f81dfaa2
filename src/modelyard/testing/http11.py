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

__all__ = ["HTTPRequest", "Handler", "Responder", "serve_connection"]

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


class Responder:
    """Writes one response to the connection, whole or as a chunked stream."""

    __slots__ = ("_writer", "closed", "started")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.started = False
        self.closed = False

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
            responder = Responder(writer)
            await handler(request, responder)
            if responder.closed or not request.keep_alive:
                break
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if not writer.is_closing():
            writer.close()
