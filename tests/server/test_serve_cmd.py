"""``modelyard serve`` as a user runs it: a real process, a real port."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

from modelyard.testing import Fault, LoopbackUpstream
from tests.net import free_port
from tests.server.serve_process import MODELYARD, serving, upstream_config
from tests.server.server_harness import SIM_CONFIG


def test_bad_config_fails_before_binding_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nmodels:\n  x:\n    family: giant\n    provider: sim\n")
    port = free_port()
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
    with serving(tmp_path, SIM_CONFIG, "--log-level", "info", within_s=30) as served:
        health = httpx.get(f"{served.base}/healthz")
        assert health.json()["status"] == "ok"
        answer = httpx.post(
            f"{served.base}/v1/chat/completions",
            json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.headers["x-modelyard-model"] == "sim-slm"
        served.process.send_signal(signal.SIGINT)
        code = served.process.wait(timeout=20)
    output = served.output
    assert code == 0, output
    assert f"{answer.headers['x-request-id']} POST /v1/chat/completions 200" in output
    assert "SIMULATED" in output


def test_sigterm_drains_requests_in_flight_and_refuses_new_ones_with_retry_after(tmp_path: Path) -> None:
    """A real SIGTERM: the slow request in flight is answered, a new one gets 503 + Retry-After, then exit."""
    with (
        LoopbackUpstream.running_in_thread() as upstream,
        serving(
            tmp_path,
            upstream_config(upstream.url, drain_s=10, retry_after_s=3, timeout_s=10),
            "--log-level",
            "info",
            within_s=30,
        ) as served,
    ):
        deadline = time.monotonic() + 30
        upstream.faults.add(Fault(latency_ms=1500, times=1))
        url = f"{served.base}/v1/chat/completions"
        in_flight: list[httpx.Response] = []
        body = {"model": "default", "messages": [{"role": "user", "content": "slow one"}]}
        worker = threading.Thread(target=lambda: in_flight.append(httpx.post(url, json=body, timeout=30)))
        worker.start()
        while not upstream.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        served.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.3)
        refused = httpx.post(url, json=body, timeout=10)
        health = httpx.get(f"{served.base}/healthz")
        worker.join(30)
        code = served.process.wait(timeout=20)
        stopped = time.monotonic() - signalled
    output = served.output
    assert [r.status_code for r in in_flight] == [200], output
    assert in_flight[0].json()["choices"][0]["message"]["content"] == "echo: slow one"
    assert refused.status_code == 503 and refused.headers["retry-after"] == "3", output
    assert refused.headers["retry-after-ms"] == "3000"
    assert refused.json()["error"]["type"] == "service_unavailable"
    assert health.status_code == 503
    assert stopped < 5  # it stopped once the request in flight was done, not after drain_s
    assert code in (0, -signal.SIGTERM), output  # uvicorn re-raises the signal after a clean shutdown
    assert "draining: 1 request(s) in flight" in output
    assert f"{refused.headers['x-request-id']} POST /v1/chat/completions 503" in output
