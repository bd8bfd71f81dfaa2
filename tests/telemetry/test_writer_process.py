"""What only the process writer has: a child that can die, be reaped, be chosen by config; its wire format.

Real child processes (``python -m modelyard.telemetry.writer_child``), real SQLite, ``kill -9``.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelyard.config import load_default_config
from modelyard.config.telemetry import TelemetrySettings
from modelyard.errors import ConfigError
from modelyard.telemetry import Feedback, JsonlSink, PostgresSink, Record, SqliteSink, TelemetryHub, build_hub
from modelyard.telemetry.hub import writer_mode
from modelyard.telemetry.record import AttemptRecord, EventRecord
from modelyard.telemetry.wire import decode_items, encode_items
from modelyard.telemetry.worker import SinkWorker
from modelyard.types import ChatRequest, new_id
from tests.telemetry.conftest import SIM, MakeEngine, config, wait_until
from tests.telemetry.test_writer_modes import DbLock, exists, rec, running, stored_ids, taken, worker_for


def _with_child(db: Path) -> tuple[SinkWorker, int]:
    """A process-mode SQLite worker that has written one record; its writer process's pid."""
    worker = worker_for(SqliteSink(db), "process")
    worker.offer(rec(0))
    assert worker.flush(15)
    assert worker.writer is not None and worker.writer.pid is not None
    return worker, worker.writer.pid


def test_kill_9_mid_batch_fails_that_batch_and_a_new_child_writes_the_next(tmp_path: Path) -> None:
    db = tmp_path / "records.db"
    worker, first = _with_child(db)
    try:
        with DbLock(db):
            for i in range(1, 4):
                worker.offer(rec(i))
            assert wait_until(lambda: taken(worker, 1))  # the child holds the batch, waiting on the lock
            os.kill(first, signal.SIGKILL)
            assert wait_until(lambda: worker.stats().failed == 3, 10)
        stats = worker.stats()
        assert stats.written == 1 and "writer process of sqlite:" in (stats.last_error or "")
        assert "died" in (stats.last_error or "")
        assert "SIGKILL" in (stats.last_error or "")
        assert not exists(first)  # reaped, not a zombie
        for i in range(4, 9):
            worker.offer(rec(i))
        assert worker.flush(15)
        assert worker.stats().written == 6
        assert worker.writer.started == 2 and worker.writer.pid not in (None, first)
        assert stored_ids(db) == [f"req-{i:05d}" for i in (0, 4, 5, 6, 7, 8)]
    finally:
        worker.close()


def test_a_child_that_died_between_batches_is_replaced_without_losing_a_batch(tmp_path: Path) -> None:
    worker, pid = _with_child(tmp_path / "records.db")
    try:
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: exited(pid))
        worker.offer(rec(1))
        assert worker.flush(15)
        stats = worker.stats()
        assert (stats.written, stats.failed) == (2, 0) and worker.writer.started == 2
        assert not exists(pid)
    finally:
        worker.close()


def test_a_hub_dropped_without_close_stops_its_child(tmp_path: Path) -> None:
    hub = TelemetryHub(
        TelemetrySettings(flush_interval_ms=5), {}, sinks=[SqliteSink(tmp_path / "r.db")], writers=["process"]
    )
    worker = hub.workers[0]
    worker.offer(rec(0))
    assert hub.flush(15)
    assert worker.writer is not None
    pid = worker.writer.pid
    assert pid is not None
    del hub
    gc.collect()
    assert wait_until(lambda: not exists(pid), 10)  # the worker drained, closed the sink, reaped the child
    assert wait_until(lambda: not worker._thread.is_alive(), 10)
    assert worker.stats().written == 1


def test_the_child_exits_when_the_gateway_process_dies(tmp_path: Path) -> None:
    """The gateway is SIGKILLed (no close, no finalizers): the child sees end of input and exits."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from modelyard.telemetry import Record, SinkWorker, SqliteSink
        w = SinkWorker(SqliteSink({str(tmp_path / "r.db")!r}), queue_size=10, batch_size=1,
                       flush_interval_s=0.01, process=True)
        w.offer(Record(request_id="r1", time=1.0))
        assert w.flush(15)
        print(w.writer.pid, flush=True)
        time.sleep(60)
    """)
    gateway = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert gateway.stdout is not None
        child = int(gateway.stdout.readline())
        assert running(child)
        gateway.kill()
        gateway.wait()
        assert wait_until(lambda: not running(child), 10)  # exited (reaped by init, or awaiting it)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        if gateway.stdout is not None:
            gateway.stdout.close()
    assert stored_ids(tmp_path / "r.db") == ["r1"]


def writer_children() -> list[int]:
    """Processes of this test process running the writer module (running or zombie)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and (b"writer_child" in cmdline or not cmdline):  # a zombie's cmdline is empty
            out.append(int(stat.parent.name))
    return out


async def test_many_short_lived_engines_leave_no_process(make_engine: MakeEngine, tmp_path: Path) -> None:
    assert not writer_children()
    for i in range(4):
        engine = make_engine(SIM + f"telemetry: {{sinks: [{{kind: sqlite, path: '{tmp_path}/r{i}.db'}}]}}\n")
        assert engine.telemetry is not None and engine.telemetry.workers[0].mode == "process"
        await engine.chat(ChatRequest.from_text(f"hello {i}", model="tiny"))
        assert engine.telemetry.flush(15)
        assert len(writer_children()) == 1
        await engine.aclose()
        assert not writer_children()  # closed and reaped: not even a zombie
        assert stored_ids(tmp_path / f"r{i}.db") and len(stored_ids(tmp_path / f"r{i}.db")) == 1


def exited(pid: int) -> bool:
    """All of the process has exited: its parent can reap it (checked without reaping it), or did."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


# -- choosing the writer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "sink", "auto_process", "expected"),
    [
        ("auto", "sqlite", True, "process"),  # configured sqlite/postgres sinks (build_hub)
        ("auto", "postgres", True, "process"),
        ("auto", "jsonl-file", False, "thread"),  # configured jsonl
        ("auto", "sqlite", False, "thread"),  # a sink object passed in code
        ("process", "sqlite", False, "process"),
        ("process", "jsonl-file", False, "process"),
        ("process", "jsonl-stdout", False, "thread"),  # stdout stays the gateway's
        ("process", "custom", False, "thread"),  # cannot be rebuilt in a child
        ("thread", "sqlite", True, "thread"),
        ("thread", "postgres", True, "thread"),
    ],
)
def test_writer_mode(tmp_path: Path, setting: str, sink: str, auto_process: bool, expected: str) -> None:
    sinks: dict[str, object] = {
        "sqlite": SqliteSink(tmp_path / "r.db"),
        "postgres": PostgresSink("PG_DSN", env={"PG_DSN": "host=nowhere"}),
        "jsonl-file": JsonlSink(str(tmp_path / "r.jsonl")),
        "jsonl-stdout": JsonlSink("-"),
        "custom": _Custom(),
    }
    assert writer_mode(setting, sinks[sink], auto_process=auto_process) == expected  # type: ignore[arg-type]


class _Custom:
    name = "custom"

    def open(self) -> None: ...

    def write(self, items: object) -> None: ...

    def close(self) -> None: ...


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("sinks: [{kind: sqlite, path: '%s/a.db'}]", ["process"]),
        (
            "writer: auto\n  sinks: [{kind: sqlite, path: '%s/a.db'}, {kind: jsonl, path: '%s/a.jsonl'}]",
            ["process", "thread"],
        ),
        ("writer: thread\n  sinks: [{kind: sqlite, path: '%s/a.db'}]", ["thread"]),
        (
            "writer: process\n  sinks: [{kind: jsonl, path: '%s/a.jsonl'}, {kind: jsonl, path: '-'}]",
            ["process", "thread"],
        ),
    ],
)
def test_build_hub_follows_telemetry_writer(tmp_path: Path, yaml: str, expected: list[str]) -> None:
    text = SIM + "telemetry:\n  " + yaml.replace("%s", str(tmp_path)) + "\n"
    hub = build_hub(config(text), {})
    try:
        assert [w.mode for w in hub.workers] == expected
    finally:
        hub.close()


@pytest.mark.parametrize("value", ["fork", "Process", "", "yes"])
def test_telemetry_writer_must_be_auto_thread_or_process(value: str) -> None:
    with pytest.raises(ConfigError, match=r"telemetry\.writer") as err:
        config(SIM + f"telemetry: {{writer: '{value}'}}\n")
    assert "auto" in str(err.value) and "process" in str(err.value)


def test_the_embedded_default_writes_through_a_process() -> None:
    cfg = load_default_config()  # its sqlite sink lives in XDG_DATA_HOME (a temp dir under pytest)
    hub = build_hub(cfg, {})
    try:
        worker = hub.workers[0]
        assert worker.mode == "process" and isinstance(worker.sink, SqliteSink)
        rid = new_id("req")
        worker.offer(Record(request_id=rid, time=time.time(), model="tiny"))
        assert hub.flush(15)
        assert worker.sink.get(rid) is not None
        pid = worker.writer.pid if worker.writer is not None else None
    finally:
        hub.close()
    assert pid is not None and not exists(pid)


def test_a_postgres_spec_carries_only_its_dsn_variable() -> None:
    sink = PostgresSink("PG_DSN", schema="s1", env={"PG_DSN": "host=db password=hunter2", "OPENAI_API_KEY": "sk-x"})
    spec = sink.writer_spec()
    assert spec == {
        "sink": "modelyard.telemetry.sinks.postgres:PostgresSink",
        "dsn_env": "PG_DSN",
        "schema": "s1",
        "env": {"PG_DSN": "host=db password=hunter2"},
    }
    worker = worker_for(sink, "process")
    try:
        assert "hunter2" not in repr(worker.writer) and "hunter2" not in repr(sink)
    finally:
        worker.close()


# -- the wire ---------------------------------------------------------------------------------


def test_items_cross_the_wire_unchanged() -> None:
    full = Record(
        request_id="req-1",
        time=1.5,
        route=["a", "b"],
        attempts=[AttemptRecord(model="m", provider="sim", status="ok", latency_ms=2.5, cost_usd=0.1)],
        events=[EventRecord(kind="retry", detail="é ✓", at_ms=1.0, data={"n": 2})],
        feedback=[Feedback(request_id="req-1", time=2.0, thumbs="up")],
        prompt='line\nbreak "quoted"',
    )
    items: list[Record | Feedback] = [full, Feedback(request_id="req-1", time=3.0, score=0.25), rec(7)]
    assert decode_items(encode_items(items)) == items
    assert decode_items(b"") == []


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:-3], "truncated item"),
        (lambda b: b[:3], "truncated item header"),
        (lambda b: b"X" + b[1:], "unknown item tag"),
    ],
)
def test_a_malformed_batch_is_an_error(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        decode_items(mangle(encode_items([rec(1)])))


# -- request ids ----------------------------------------------------------------------------------


def test_request_ids_keep_their_format_and_sort_by_time() -> None:
    ids = [new_id("req") for _ in range(20_000)]
    assert all(re.fullmatch(r"req-[0-9a-f]{24}", i) for i in ids) and len(set(ids)) == len(ids)
    spaced = []
    for _ in range(30):
        spaced.append(new_id("req"))
        time.sleep(0.0005)
    assert spaced == sorted(spaced)  # later ids sort after earlier ones: the primary key grows at its edge
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", new_id())
