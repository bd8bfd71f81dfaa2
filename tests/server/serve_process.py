"""Helpers for tests that run ``modelyard serve`` as a real process on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

MODELYARD = [str(Path(sys.executable).parent / "modelyard")]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upstream_config(upstream_url: str, *, drain_s: float, retry_after_s: float, timeout_s: float) -> str:
    """Gateway YAML: one ``openai`` model ``up`` at ``upstream_url`` behind a fixed ``default`` router."""
    return f"""
version: 1
gateway: {{drain_s: {drain_s}, drain_retry_after_s: {retry_after_s}}}
models:
  up: {{family: llm, provider: openai, base_url: "{upstream_url}/v1", timeout_s: {timeout_s}}}
routers: {{default: {{kind: fixed, target: up}}}}
"""


def start_serve(config: Path, port: int, log: IO[str], *extra: str) -> subprocess.Popen[bytes]:
    """Start ``modelyard serve --config CONFIG --port PORT EXTRA...``, stdout and stderr into ``log``."""
    return subprocess.Popen(
        [*MODELYARD, "serve", "--config", str(config), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_healthy(process: subprocess.Popen[bytes], base: str, *, within_s: float, poll_s: float) -> httpx.Response:
    """Poll ``BASE/healthz`` until it answers; fails if the process exits or ``within_s`` seconds pass."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return httpx.get(f"{base}/healthz")
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(poll_s)


def kill_if_running(process: subprocess.Popen[bytes]) -> None:
    """Kill and reap ``process`` unless it has already exited."""
    if process.poll() is None:
        process.kill()
        process.wait()


def read_and_close(log: IO[str]) -> str:
    """All that was written to ``log`` (opened ``w+``); closes it."""
    log.seek(0)
    output = log.read()
    log.close()
    return output
