"""``modelyard serve`` as a user runs it: a real process, a real port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.server_harness import SIM_CONFIG

MODELYARD = [str(Path(sys.executable).parent / "modelyard")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_config_fails_before_binding_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nmodels:\n  x:\n    family: giant\n    provider: sim\n")
    port = _free_port()
    done = subprocess.run(
        [*MODELYARD, "serve", "--config", str(bad), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"{bad}: models.x.family:" in lines[0]
    with socket.socket() as sock:  # the port was never taken
        sock.bind(("127.0.0.1", port))


def test_serve_answers_and_stops_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(SIM_CONFIG)
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [*MODELYARD, "serve", "--config", str(config), "--port", str(port), "--log-level", "info"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.headers["x-modelyard-model"] == "sim-slm"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
    log.seek(0)
    output = log.read()
    log.close()
    assert code == 0, output
    assert f"{answer.headers['x-request-id']} POST /v1/chat/completions 200" in output
    assert "SIMULATED" in output
