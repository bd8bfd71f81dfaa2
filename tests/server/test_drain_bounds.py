"""Graceful shutdown's bounds, on a real ``modelyard serve`` process (README: "Graceful shutdown").

``tests/server/test_serve_cmd.py`` shows a SIGTERM letting the request in flight
finish; these rows show the two ways the wait ends early: ``gateway.drain_s``
passes with a request still in flight, or a second signal arrives. Either way the
process exits long before the in-flight request (stalled 20 s upstream) would
have ended.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from modelyard.testing import Fault, LoopbackUpstream
from tests.server.serve_process import serving, upstream_config

STALL_MS = 20_000


@pytest.mark.parametrize(
    ("drain_s", "signals", "within_s", "says"),
    [
        # drain_s passes with the request still in flight: stop anyway
        (1.0, [signal.SIGTERM], 6.0, "still in flight after 1s; stopping anyway"),
        # a second signal skips the wait (drain_s alone would wait 60 s)
        (60.0, [signal.SIGTERM, signal.SIGTERM], 6.0, "draining: 1 request(s) in flight"),
        (60.0, [signal.SIGINT, signal.SIGINT], 6.0, "draining: 1 request(s) in flight"),
    ],
    ids=["drain_s-passes", "second-sigterm", "second-sigint"],
)
def test_the_drain_ends_at_drain_s_or_at_a_second_signal(
    tmp_path: Path, drain_s: float, signals: list[signal.Signals], within_s: float, says: str
) -> None:
    with (
        LoopbackUpstream.running_in_thread() as upstream,
        serving(
            tmp_path,
            upstream_config(upstream.url, drain_s=drain_s, retry_after_s=1, timeout_s=60),
            "--log-level",
            "info",
            within_s=60,
        ) as served,
    ):
        deadline = time.monotonic() + 60
        upstream.faults.add(Fault(latency_ms=STALL_MS, times=1))
        body = {"model": "default", "messages": [{"role": "user", "content": "stalled"}]}
        in_flight: list[httpx.Response | Exception] = []

        def ask() -> None:
            try:
                in_flight.append(httpx.post(f"{served.base}/v1/chat/completions", json=body, timeout=60))
            except httpx.HTTPError as exc:
                in_flight.append(exc)

        worker = threading.Thread(target=ask, daemon=True)
        worker.start()
        while not upstream.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream.requests, "the stalled request never reached the upstream"
        signalled = time.monotonic()
        for sig in signals:
            served.process.send_signal(sig)
            time.sleep(0.5)  # the first signal has begun the drain before the second arrives
        try:
            code = served.process.wait(timeout=STALL_MS / 1000)
        except subprocess.TimeoutExpired:
            code = None
        stopped = time.monotonic() - signalled
    output = served.output
    assert code is not None, f"still running {STALL_MS / 1000:.0f} s after {len(signals)} signal(s):\n{output}"
    assert stopped < within_s, f"stopped {stopped:.1f} s after the first signal:\n{output}"
    assert says in output, output


def test_with_workers_each_worker_drains_its_own_requests(tmp_path: Path) -> None:
    """``serve --workers 2``: a SIGTERM to the supervisor reaches each worker, which drains itself."""
    with (
        LoopbackUpstream.running_in_thread() as upstream,
        serving(
            tmp_path,
            upstream_config(upstream.url, drain_s=10, retry_after_s=1, timeout_s=30),
            "--workers",
            "2",
            within_s=90,
            poll_s=0.1,
        ) as served,
    ):
        deadline = time.monotonic() + 90
        upstream.faults.add(Fault(latency_ms=2000, times=None))
        body = {"model": "default", "messages": [{"role": "user", "content": "slow one"}]}
        url = f"{served.base}/v1/chat/completions"
        in_flight: list[httpx.Response] = []
        workers = [
            threading.Thread(target=lambda: in_flight.append(httpx.post(url, json=body, timeout=30)))
            for _ in range(4)  # separate connections: the kernel spreads them over the workers
        ]
        for w in workers:
            w.start()
        while len(upstream.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        served.process.send_signal(signal.SIGTERM)
        for w in workers:
            w.join(30)
        code = served.process.wait(timeout=30)
    output = served.output
    assert [r.status_code for r in in_flight] == [200] * 4, output
    assert all(r.json()["choices"][0]["message"]["content"] == "echo: slow one" for r in in_flight)
    assert code in (0, -signal.SIGTERM), output
    # each worker got the signal and drained its own requests: two drain lines whose counts add up to 4
    counts = [int(n) for n in re.findall(r"draining: (\d+) request\(s\) in flight", output)]
    assert len(counts) == 2 and sum(counts) == 4, output
