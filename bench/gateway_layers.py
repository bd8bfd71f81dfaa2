"""CPU microseconds per request, layer by layer, on the gateway's request path.

`gateway_overhead.py` measures the whole gateway from outside; this one says
where its CPU goes. Each layer runs in this process in a closed loop against
the loopback upstream (a separate process, so its CPU is not counted), and is
timed with ``time.process_time`` — CPU, not wall time, so it is far less
sensitive to a busy machine. Layers run interleaved for several rounds; the
minimum and the median per layer are printed.

Layers, each including the ones before it:

- ``socket``   — one keep-alive POST over bare asyncio streams (the floor);
- ``provider`` — ``OpenAIProvider.chat`` (aiohttp, JSON in and out, typed answer);
- ``engine``   — ``Engine.chat``: fixed router, resilience, telemetry;
- ``asgi``     — the gateway ASGI app (middleware, access log, validation,
  response), without uvicorn and the client socket;
- ``asgi, full`` — the same app on ``bench/vs_litellm.py``'s configuration: a
  ``rules`` router, retries, breaker, fallback, safe default, metrics and the
  SQLite sink (its writer thread's CPU counts: it is the same process).

Then, on a simulated model (no socket at all): the engine bare, with
resilience, and with resilience and telemetry.

    .venv/bin/python bench/gateway_layers.py
    .venv/bin/python bench/gateway_layers.py --rounds 9 --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.config
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package: siblings by path

BODY = (
    b'{"model": "default", "messages": [{"role": "system", "content": "Be brief."},'
    b' {"role": "user", "content": "What is the capital of France? Answer in one word."}],'
    b' "max_tokens": 16}'
)
MODELS = """
version: 1
models:
  up:
    family: llm
    provider: {provider}
    upstream_model: loopback
    base_url: {url}/v1
routers:
  default: {{kind: fixed, target: up}}
"""

Call = Callable[[], Awaitable[Any]]


async def timed(calls: dict[str, Call], rounds: int, n: int) -> None:
    """Run every call ``n`` times per round, interleaved; print min and median CPU µs per call."""
    for call in calls.values():  # warm up pools and caches
        for _ in range(200):
            await call()
    results: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            began = time.process_time()
            for _ in range(n):
                await call()
            results[name].append((time.process_time() - began) / n * 1e6)
    width = max(map(len, results))
    for name, values in results.items():
        values.sort()
        print(f"  {name:<{width}}  min {values[0]:7.1f}  median {values[len(values) // 2]:7.1f} µs CPU/request")


def count_lines(path: Path) -> int:
    return path.read_text().count("\n")


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "modelyard.testing.upstream", "--port", str(port), "--uvloop"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the loopback upstream did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def asgi_call(app: Any, body: bytes = BODY) -> Call:
    """One POST /v1/chat/completions through the ASGI app, with in-memory receive/send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"gw"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }

    async def call() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # a client that stays connected
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(scope), receive, send)
        assert status == [200], status

    return call


async def socket_call(url: str) -> Call:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = BODY.replace(b'"default"', b'"loopback"')
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: up\r\ncontent-type: application/json\r\n"
    request = head + b"content-length: %d\r\n\r\n" % len(body) + body

    async def call() -> None:
        writer.write(request)
        headers = (await reader.readuntil(b"\r\n\r\n")).lower()
        start = headers.index(b"content-length:") + 15
        await reader.readexactly(int(headers[start : headers.index(b"\r\n", start)]))

    return call


async def main(rounds: int, n: int) -> None:
    from modelyard.cli.serve_cmd import log_config
    from modelyard.config import parse_config
    from modelyard.engine import Engine
    from modelyard.providers.calls import ModelCalls
    from modelyard.server.app import create_app
    from modelyard.types import ChatRequest

    request = ChatRequest.model_validate_json(BODY)
    with upstream() as url, tempfile.TemporaryDirectory() as tmp:
        # the access log goes to a file, as `modelyard serve` writes it to a redirected stderr
        config = log_config("info")
        config["handlers"]["stderr"] = {"class": "logging.FileHandler", "formatter": "plain", "filename": f"{tmp}/log"}
        logging.config.dictConfig(config)
        engine = Engine(parse_config(MODELS.format(provider="openai", url=url)))
        provider = engine.providers["up"]
        from vs_litellm import DUMMY_KEY, MODELYARD_CONFIG, UPSTREAM_MODEL

        os.environ.setdefault("BENCH_UPSTREAM_KEY", DUMMY_KEY)
        full_yaml = MODELYARD_CONFIG.format(
            model=UPSTREAM_MODEL, url=url, records=f"{tmp}/records.db", state="{backend: memory}"
        )
        full = Engine(parse_config(full_yaml))
        print(f"over the loopback upstream ({rounds} rounds × {n} requests):")
        await timed(
            {
                "socket": await socket_call(url),
                "provider": lambda: provider.chat(request, timeout=30),
                "engine": lambda: engine.chat(request),
                "asgi": asgi_call(create_app(engine)),
                "asgi, full": asgi_call(create_app(full), BODY.replace(b'"default"', b'"bench"')),
            },
            rounds,
            n,
        )
        await engine.aclose()
        await full.aclose()
        lines = count_lines(Path(tmp) / "log")
        print(f"  (the asgi layer wrote {lines} access-log lines)")

    logging.getLogger("modelyard").setLevel(logging.ERROR)  # the SIMULATED warning, once per engine
    sim = MODELS.format(provider="sim", url="http://unused").replace("    upstream_model: loopback\n", "")
    full = Engine(parse_config(sim))
    resilient = Engine(parse_config(sim + "telemetry: {enabled: false}\n"))
    bare = Engine(parse_config(sim + "telemetry: {enabled: false}\n"), calls=ModelCalls(resilient.providers))
    print("on a simulated model (engine layers only):")
    await timed(
        {
            "sim provider": lambda: full.providers["up"].chat(request, timeout=30),
            "engine, bare": lambda: bare.chat(request),
            "+ resilience": lambda: resilient.chat(request),
            "+ telemetry": lambda: full.chat(request),
        },
        rounds,
        n,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000, help="requests per layer per round")
    args = parser.parse_args()
    runner: Callable[..., Any] = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(main(args.rounds, args.requests))
