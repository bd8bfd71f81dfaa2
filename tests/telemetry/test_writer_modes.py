"""A sink's writer behaves the same as a thread of the gateway and as its own process.

One suite, parametrised over ``thread`` and ``process``: real SQLite files (and a
real PostgreSQL server where the ``store_spec`` fixture says so), real child
processes, a database lock held by the test to stall a write, no mocks.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.config.telemetry import TelemetrySettings
from modelyard.telemetry import Feedback, Record, SinkWorker, SqliteSink, TelemetryHub
from modelyard.telemetry.view import Window
from tests.telemetry.conftest import StoreSpec, wait_until
from tests.telemetry.test_sinks import sink_for

MODES = ["thread", "process"]


def rec(i: int, t: float = 1_700_000_000.0) -> Record:
    return Record(request_id=f"req-{i:05d}", time=t + i, model="tiny", family="slm", cost_usd=0.01)


def worker_for(sink: object, mode: str, **kw: object) -> SinkWorker:
    opts: dict[str, object] = {"queue_size": 10_000, "batch_size": 50, "flush_interval_s": 0.005} | kw
    return SinkWorker(sink, process=mode == "process", **opts)  # type: ignore[arg-type]


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited but was not reaped: /proc still lists it, state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def exists(pid: int) -> bool:
    """Listed in /proc at all: running or a zombie nobody reaped."""
    return Path(f"/proc/{pid}").exists()


class DbLock:
    """Holds SQLite's write lock on ``db`` from another connection: the sink's next write waits (busy timeout)."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None)

    def __enter__(self) -> DbLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "records.db"


def stored_ids(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT request_id FROM records ORDER BY time")]
    finally:
        conn.close()


def taken(worker: SinkWorker, written: int) -> bool:
    """The writer has taken everything queued and not finished writing it."""
    return not worker.pending() and worker.stats().written == written


@pytest.mark.parametrize("mode", MODES)
def test_flush_waits_until_written(store_spec: StoreSpec, mode: str) -> None:
    sink = sink_for(store_spec)
    worker = worker_for(sink, mode)
    try:
        for i in range(120):
            assert worker.offer(rec(i))
        worker.offer(Feedback(request_id="req-00003", time=1_700_000_100.0, score=0.9))
        assert worker.flush(15)
        stats = worker.stats()
        assert (stats.written, stats.queued, stats.dropped, stats.failed) == (121, 0, 0, 0)
        assert [r.request_id for r in sink.query()] == [f"req-{i:05d}" for i in range(120)]  # read by the parent
        fb = sink.get("req-00003")
        assert fb is not None and [f.score for f in fb.feedback] == [0.9]
        assert worker.mode == mode
        if mode == "process":
            assert worker.writer is not None and worker.writer.pid not in (None, os.getpid())
        else:
            assert worker.writer is None
    finally:
        worker.close()


@pytest.mark.parametrize("mode", MODES)
def test_close_drains_and_leaves_no_process(db: Path, mode: str) -> None:
    worker = worker_for(SqliteSink(db), mode, flush_interval_s=60.0)  # only close makes it write
    worker.offer(rec(0))
    assert worker.flush(15)
    pid = worker.writer.pid if worker.writer is not None else None
    for i in range(1, 300):
        worker.offer(rec(i))
    worker.close(15)
    assert worker.stats().written == 300 and len(stored_ids(db)) == 300
    assert not worker._thread.is_alive()
    if mode == "process":
        assert pid is not None and not exists(pid)  # exited and reaped: not even a zombie
        assert worker.writer is not None and worker.writer.pid is None


@pytest.mark.parametrize("mode", MODES)
def test_a_sink_that_cannot_open_counts_failures_then_recovers(tmp_path: Path, mode: str) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database's directory should be")
    db = blocker / "records.db"
    worker = worker_for(SqliteSink(db), mode)
    try:
        for i in range(3):
            worker.offer(rec(i))
        assert worker.flush(15)
        stats = worker.stats()
        assert (stats.written, stats.failed) == (0, 3)
        assert (stats.last_error or "").startswith("FileExistsError: ") and "File exists" in (stats.last_error or "")
        blocker.unlink()  # the obstacle is gone: the next batch opens the sink and is written
        for i in range(3, 7):
            worker.offer(rec(i))
        assert worker.flush(15)
        assert worker.stats().written == 4 and stored_ids(db) == [f"req-{i:05d}" for i in range(3, 7)]
    finally:
        worker.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_stalled_database_drops_what_the_queue_cannot_hold(db: Path, mode: str) -> None:
    worker = worker_for(SqliteSink(db), mode, queue_size=5, batch_size=2)
    try:
        worker.offer(rec(0))
        assert worker.flush(15)  # open and migrated
        with DbLock(db):
            worker.offer(rec(1))
            assert wait_until(lambda: taken(worker, 1))  # the writer now waits on the lock
            accepted = [worker.offer(rec(i)) for i in range(2, 22)]
            assert accepted == [True] * 5 + [False] * 15
            stats = worker.stats()
            assert (stats.queued, stats.dropped) == (5, 15)
            assert [r.request_id for r in worker.pending()] == [f"req-{i:05d}" for i in range(2, 7)]
        assert worker.flush(15)
        assert worker.stats().written == 7 and len(stored_ids(db)) == 7
    finally:
        worker.close()


@pytest.mark.parametrize("mode", MODES)
def test_close_gives_up_on_a_write_that_never_returns(db: Path, mode: str) -> None:
    worker = worker_for(SqliteSink(db), mode)
    worker.offer(rec(0))
    assert worker.flush(15)
    pid = worker.writer.pid if worker.writer is not None else None
    with DbLock(db):
        worker.offer(rec(1))
        assert wait_until(lambda: taken(worker, 1))
        started = time.perf_counter()
        worker.close(timeout=0.3)
        took = time.perf_counter() - started
        assert took < 2.0, took
        if mode == "process":  # the child was killed and reaped; the batch it held is counted failed
            assert pid is not None and not exists(pid)
            assert worker.stats().failed == 1 and not worker._thread.is_alive()
    if mode == "thread":  # the thread finishes its write once the lock is gone, then ends
        worker._thread.join(15)
        assert worker.stats().written == 2


@pytest.mark.parametrize("mode", MODES)
def test_retention_prunes_records_and_keeps_rollups(store_spec: StoreSpec, mode: str) -> None:
    settings = TelemetrySettings(flush_interval_ms=5, retention={"records_days": 1, "prune_every_s": 0.01})  # type: ignore[arg-type]
    sink = sink_for(store_spec)
    hub = TelemetryHub(settings, {}, sinks=[sink], writers=[mode])  # type: ignore[list-item]
    now = time.time()
    try:
        assert hub.workers[0].mode == mode
        old = [Record(request_id=f"old-{i}", time=now - 3 * 86_400 + i, model="tiny", cost_usd=0.5) for i in range(30)]
        new = [Record(request_id=f"new-{i}", time=now - 60 + i, model="tiny", cost_usd=0.25) for i in range(20)]
        for r in old + new:
            hub.workers[0].offer(r)
        assert hub.flush(15)
        assert wait_until(lambda: hub.workers[0].pruned == 30, 15)
        assert [r.request_id for r in sink.query()] == [r.request_id for r in new]
        total = sink.read_view(Window(None)).reads.total()
        assert (total.n, total.cost_usd) == (50, pytest.approx(30 * 0.5 + 20 * 0.25))  # type: ignore[comparison-overlap]
    finally:
        hub.close()
