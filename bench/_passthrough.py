"""The bare pass-through of `bench/vs_litellm.py`: the practical floor a gateway is measured against.

~50 lines: uvicorn (uvloop + httptools) and one pooled keep-alive aiohttp client
(or httpx); receive, parse the JSON, set the upstream model, forward, return. With
``"stream": true`` it relays the upstream's SSE chunks as they arrive. Nothing else:
no routing, no retries, no telemetry, no access log.

    python bench/vs_litellm.py --serve-passthrough PORT UPSTREAM_URL aiohttp
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

__all__ = ["DUMMY_KEY", "UPSTREAM_MODEL", "serve_passthrough"]

DUMMY_KEY = "sk-bench-not-a-real-key"
UPSTREAM_MODEL = "loopback"


Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]


Relay = Callable[[bytes, Callable[[bytes, bool], Awaitable[None]]], Awaitable[int]]


async def _streaming_client(url: str) -> tuple[Relay, Callable[[], Awaitable[None]]]:
    """``relay(body, send)``: POST and pass each piece of the answer to ``send(piece, more)`` as it arrives."""
    import aiohttp

    headers = {"content-type": "application/json", "authorization": f"Bearer {DUMMY_KEY}"}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))

    async def relay(data: bytes, send: Callable[[bytes, bool], Awaitable[None]]) -> int:
        async with session.post(url, data=data, headers=headers) as reply:
            async for piece in reply.content.iter_any():
                await send(piece, True)
            await send(b"", False)
            return reply.status

    return relay, session.close


async def _pooled_client(kind: str, url: str) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """A keep-alive pool of the given kind, as ``post(body) -> (status, body)`` and ``close()``."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {DUMMY_KEY}"}
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))

        async def post_aiohttp(data: bytes) -> tuple[int, bytes]:
            async with session.post(url, data=data, headers=headers) as reply:
                return reply.status, await reply.read()

        return post_aiohttp, session.close
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    client = httpx.AsyncClient(limits=limits, timeout=60.0)

    async def post_httpx(data: bytes) -> tuple[int, bytes]:
        reply = await client.post(url, content=data, headers=headers)
        return reply.status_code, reply.content

    return post_httpx, client.aclose


def serve_passthrough(port: int, upstream: str, client: str) -> None:
    """Receive, parse JSON, forward with one pooled keep-alive client, return. Nothing else."""
    import uvicorn

    pool: list[tuple[Post, Callable[[], Awaitable[None]]]] = []
    streams: list[tuple[Relay, Callable[[], Awaitable[None]]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] == "lifespan.startup":
                pool.append(await _pooled_client(client, f"{upstream}/v1/chat/completions"))
                streams.append(await _streaming_client(f"{upstream}/v1/chat/completions"))
                await send({"type": "lifespan.startup.complete"})
            await pool[0][1]()
            await streams[0][1]()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        payload = json.loads(body)
        payload["model"] = UPSTREAM_MODEL
        if payload.get("stream"):  # relay the SSE chunks as they arrive (chunked transfer to the client)
            started = False

            async def forward(piece: bytes, more: bool) -> None:
                nonlocal started
                if not started:
                    started = True
                    sse = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
                    await send({"type": "http.response.start", "status": 200, "headers": sse})
                await send({"type": "http.response.body", "body": piece, "more_body": more})

            await streams[0][0](json.dumps(payload).encode(), forward)
            return
        status, answer = await pool[0][0](json.dumps(payload).encode())
        out = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
