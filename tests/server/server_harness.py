"""Helpers for gateway tests: a real uvicorn server in a thread, trace capture."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import uvicorn

from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.providers import ProviderContext
from modelyard.server import create_app
from modelyard.types import RequestTrace

SIM_CONFIG = """
version: 1
models:
  sim-slm:
    family: slm
    provider: sim
    price: {input: 0.5, output: 1.5}
  sim-slm-private:
    family: slm
    provider: sim
    privacy: private
    price: {input: 2.0, output: 4.0}
  sim-embed:
    family: mlm
    provider: sim
    options: {embedding_dim: 16}
routers:
  default:
    kind: fixed
    target: slm
"""


class Traces:
    """An engine listener that keeps every finished request's trace."""

    def __init__(self) -> None:
        self.items: list[RequestTrace] = []

    def on_request_end(self, trace: RequestTrace) -> None:
        self.items.append(trace)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn (uvloop + httptools, as ``modelyard serve``) in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", access_log=False, log_config=None, loop="uvloop", http="httptools"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Gateway:
    def __init__(self, url: str, engine: Engine, traces: Traces, app: Any = None) -> None:
        self.url = url
        self.engine = engine
        self.traces = traces
        self.app = app  # the Starlette app: app.state.drain starts a graceful shutdown

    def client(self, api_key: str = "unused", **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, **kwargs)


@contextmanager
def running(yaml_text: str = SIM_CONFIG, *, env: dict[str, str] | None = None) -> Iterator[Gateway]:
    """A gateway for a YAML config, stopped on exit."""
    traces = Traces()
    engine = Engine(
        parse_config(yaml_text, source="test.yaml", env=env),
        listeners=[traces],
        provider_context=ProviderContext(env=env) if env is not None else None,
    )
    app = create_app(engine)
    with serve(app) as url:
        yield Gateway(url, engine, traces, app)
