"""Crash-resume: the executor process is SIGKILLed mid-run, run again, and finishes; every
side-effecting step reached the (non-deduplicating) services exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from modelyard.actions import RunReport, idempotency_key
from modelyard.testing.services import LoopbackService

WORKER = str(Path(__file__).with_name("crash_worker.py"))


async def _worker(store: Path, run_id: str, board: dict[str, LoopbackService]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        WORKER,
        str(store),
        run_id,
        board["crm"].url,
        board["payments"].url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def _wait_for(service: LoopbackService, route: str, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(service.requests(route)) < count:
        assert time.monotonic() < deadline, f"{route} never reached {count} request(s)"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("slow_route", "service", "kill_after"),
    [
        # killed while a side-effecting POST is in flight: the service has applied it, the worker never
        # heard back, so the step is 'running' in the store: resume must settle it by lookup, not resend
        pytest.param("POST /notes", "crm", 1, id="during-side-effect"),
        # killed during a slow read, with note1 (maybe) already done
        pytest.param("GET /revenue", "payments", 1, id="during-slow-read"),
        # killed after two notes went out, while the second is in flight
        pytest.param("POST /notes", "crm", 2, id="during-second-side-effect"),
    ],
)
async def test_sigkill_mid_run_then_resume_executes_each_side_effect_once(
    board: dict[str, LoopbackService], tmp_path: Path, slow_route: str, service: str, kill_after: int
) -> None:
    store, run_id = tmp_path / "steps.db", "run-crash"
    board[service].slow_ms[slow_route] = 3000.0
    first = await _worker(store, run_id, board)
    await _wait_for(board[service], slow_route, kill_after)
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    board[service].slow_ms.clear()

    second = await _worker(store, run_id, board)
    out, err = await asyncio.wait_for(second.communicate(), 120)
    assert second.returncode == 0, err.decode()[-2000:]
    report = RunReport.model_validate_json(out.decode().strip().splitlines()[-1])
    assert report.status == "done", report.summary()

    posts = board["crm"].requests("POST /notes")
    keys = [p["idempotency_key"] for p in posts]
    assert sorted(keys) == sorted(idempotency_key(run_id, s) for s in ("note1", "note2", "note3")), keys
    assert [p["body"]["title"] for p in posts] == ["one: 42 deals", "two: 980000", "three"]
    assert len(board["crm"].requests("GET /pipeline")) == 1 or not report.step("crm").resumed
    if slow_route == "POST /notes":  # the in-flight POST was settled by the lookup, not sent again
        settled = [s for s in report.steps if "lookup says it took effect" in s.note]
        assert [s.id for s in settled] == [f"note{kill_after}"]
    resumed = [s.id for s in report.steps if s.resumed]
    assert resumed, "nothing finished before the kill was kept"
    log = [json.loads(x) for x in (tmp_path / "crm.jsonl").read_text().splitlines()]
    assert sum(1 for x in log if x["route"] == "POST /notes") == 3  # the on-disk request log agrees
