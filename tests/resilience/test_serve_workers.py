"""``modelyard serve --workers N`` warns when N workers would each keep their own limits.

With ``resilience.state.backend: memory`` every worker process has its own
breakers, rate limits and budgets, so a cap is multiplied by N; ``serve``
says so once, at start, on stderr. With Redis (shared state), or with one
worker, it does not. Real processes on a real port: the gateway must also come
up and answer with that many workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.net import free_port

MODELYARD = str(Path(sys.executable).parent / "modelyard")
WARNING = "workers with resilience.state.backend=memory: each worker keeps its own breakers, rate limits and budgets"

CONFIG = """
version: 1
models:
  m: {family: slm, provider: sim}
routers: {default: {kind: fixed, target: m}}
resilience:
  limits: {tenants: {"*": {rpm: 60}}}
"""


def _serve_and_read_log(config: Path, workers: int, log: Path) -> str:
    """Start ``modelyard serve``, wait until it answers a chat request, stop it; return its output."""
    port = free_port()
    cmd = [MODELYARD, "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "gateway did not start: " + log.read_text()
                try:
                    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
                    reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=5)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert reply.status_code == 200 and reply.headers["x-modelyard-model"] == "m"
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # the server and the worker processes it started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return log.read_text()


@pytest.mark.parametrize(
    ("workers", "state", "warns"),
    [(2, "memory", True), (1, "memory", False), (2, "redis", False)],
    ids=["2-workers-memory", "1-worker-memory", "2-workers-redis"],
)
def test_serve_warns_when_workers_do_not_share_state(
    tmp_path: Path, workers: int, state: str, warns: bool, request: pytest.FixtureRequest
) -> None:
    text = CONFIG
    if state == "redis":
        url = request.getfixturevalue("redis_server")
        text += f'  state: {{backend: redis, url: "{url}", prefix: {request.getfixturevalue("redis_prefix")}}}\n'
    config = tmp_path / "gateway.yaml"
    config.write_text(text)
    output = _serve_and_read_log(config, workers, tmp_path / "serve.log")
    lines = [line for line in output.splitlines() if WARNING in line]
    if warns:
        assert len(lines) == 1, output  # once, from the supervising process
        assert f"{workers} workers with" in lines[0] and "WARNING" in lines[0]
        assert f"caps are multiplied by {workers}; use backend: redis to share them" in lines[0]
    else:
        assert lines == [], output
