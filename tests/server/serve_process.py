"""Helpers for tests that run ``modelyard serve`` as a real process on a real port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.net import free_port

MODELYARD = [str(Path(sys.executable).parent / "modelyard")]


def upstream_config(upstream_url: str, *, drain_s: float, retry_after_s: float, timeout_s: float) -> str:
    """Gateway YAML: one ``openai`` model ``up`` at ``upstream_url`` behind a fixed ``default`` router."""
    return f"""
version: 1
gateway: {{drain_s: {drain_s}, drain_retry_after_s: {retry_after_s}}}
models:
  up: {{family: llm, provider: openai, base_url: "{upstream_url}/v1", timeout_s: {timeout_s}}}
routers: {{default: {{kind: fixed, target: up}}}}
"""


@dataclass
class Served:
    """A running ``modelyard serve``: its process and base URL; ``output`` (stdout and stderr) once it is stopped."""

    process: subprocess.Popen[bytes]
    base: str
    output: str = ""


@contextmanager
def serving(tmp_path: Path, config_text: str, *extra: str, within_s: float, poll_s: float = 0.05) -> Iterator[Served]:
    """``modelyard serve`` on ``config_text`` (written to TMP_PATH/gw.yaml) and a free port, with ``extra`` flags.

    Yields once ``/healthz`` answers (fails if the process exits or ``within_s`` seconds pass);
    on exit kills the process if it is still running and any worker left in its process group,
    then fills ``Served.output`` from TMP_PATH/serve.log.
    """
    config = tmp_path / "gw.yaml"
    config.write_text(config_text)
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [*MODELYARD, "serve", "--config", str(config), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group: worker processes (--workers) are ended with it
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + within_s
        while True:
            try:
                httpx.get(f"{served.base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(poll_s)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # workers a killed supervisor left behind
            os.killpg(process.pid, signal.SIGKILL)
        log.seek(0)
        served.output = log.read()
        log.close()
