"""One suite, run against SQLite and against a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from modelyard.config.telemetry import PostgresSinkSpec, SqliteSinkSpec
from modelyard.errors import ConfigError
from modelyard.telemetry import Feedback, Record
from modelyard.telemetry.sinks import MIGRATIONS, create_sink
from modelyard.telemetry.sinks.postgres import PostgresSink
from modelyard.telemetry.sinks.sqlite import SqliteSink
from modelyard.types import ChatRequest, RoutingHints
from tests.telemetry.conftest import SIM, MakeEngine, StoreSpec, config

LATEST = MIGRATIONS[-1][0]


def sink_for(spec: StoreSpec) -> SqliteSink | PostgresSink:
    cfg = config(SIM + f"telemetry: {{sinks: [{spec.yaml}]}}\n", spec.env)
    sink_spec = cfg.telemetry.sinks[0]
    assert isinstance(sink_spec, SqliteSinkSpec | PostgresSinkSpec)
    sink = create_sink(sink_spec, spec.env)
    assert isinstance(sink, SqliteSink | PostgresSink)
    return sink


def rec(i: int, **kw: object) -> Record:
    return Record(request_id=f"req-{i:04d}", time=1_700_000_000.0 + i, model="tiny", family="slm", **kw)  # type: ignore[arg-type]


def test_migrations_are_versioned_and_idempotent(store_spec: StoreSpec) -> None:
    sink = sink_for(store_spec)
    conn = sink.store.connect()
    try:
        assert sink.store.migrate(conn) == [v for v, _ in MIGRATIONS]
        assert sink.store.migrate(conn) == []
        assert sink.store.version(conn) == LATEST
    finally:
        conn.close()


def test_concurrent_openers_migrate_once(store_spec: StoreSpec) -> None:
    sinks = [sink_for(store_spec) for _ in range(4)]
    errors: list[BaseException] = []

    def open_one(s: SqliteSink | PostgresSink) -> None:
        try:
            s.open()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(s,)) for s in sinks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = sinks[0].store.connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT version FROM schema_version ORDER BY version")
        assert [row[0] for row in cur.fetchall()] == [v for v, _ in MIGRATIONS]
    finally:
        conn.close()
        for s in sinks:
            s.close()


def test_round_trip_with_feedback(store_spec: StoreSpec) -> None:
    sink = sink_for(store_spec)
    sink.open()
    try:
        records = [rec(i, cost_usd=0.001 * i, route=["a", "b"]) for i in range(5)]
        sink.write(records[:3])
        sink.write([*records[3:], records[0]])  # a duplicate id is ignored, not an error
        fb = Feedback(request_id="req-0002", time=time.time(), thumbs="down", label="llm")
        sink.write([fb, Feedback(request_id="req-0002", time=time.time() + 1, score=0.5)])
        got = sink.query()
        assert [r.request_id for r in got] == [r.request_id for r in records]
        assert got[1].cost_usd == pytest.approx(0.001) and got[1].route == ["a", "b"]
        assert [f.thumbs for f in got[2].feedback] == ["down", None]
        assert got[2].feedback_label == "llm" and got[2].feedback_value == pytest.approx(0.25)
        assert [r.request_id for r in sink.query(since=1_700_000_003.0)] == ["req-0003", "req-0004"]
        assert [r.request_id for r in sink.query(limit=2)] == ["req-0003", "req-0004"]
        one = sink.get("req-0002")
        assert one is not None and len(one.feedback) == 2
        assert sink.get("req-9999") is None
    finally:
        sink.close()


async def test_engine_requests_land_in_the_store(store_spec: StoreSpec, make_engine: MakeEngine) -> None:
    yaml = (
        SIM
        + f"""
routers: {{default: {{kind: fixed, target: tiny}}}}
telemetry: {{sinks: [{store_spec.yaml}], batch_size: 7, flush_interval_ms: 20}}
"""
    )
    engine = make_engine(yaml, env=store_spec.env)
    hints = RoutingHints(tenant="t1")
    done = [await engine.chat(ChatRequest.from_text(f"q{i}", hints=hints)) for i in range(20)]
    hub = engine.telemetry
    assert hub is not None and hub.flush()
    store = hub.store
    assert store is not None
    stored = store.query()
    assert [r.request_id for r in stored] == [d.trace.request_id for d in done]
    assert all(r.tenant == "t1" and r.model == "tiny" for r in stored)
    hub.feedback(Feedback(request_id=done[3].trace.request_id, time=time.time(), score=0.9))
    assert hub.flush()
    got = store.get(done[3].trace.request_id)
    assert got is not None and got.feedback_value == pytest.approx(0.9)
    stats = hub.sink_stats()[0]
    assert (stats.written, stats.dropped, stats.failed) == (21, 0, 0)


def test_sqlite_uses_wal(tmp_path: pytest.TempPathFactory) -> None:
    sink = SqliteSink(tmp_path / "x.db")  # type: ignore[operator]
    sink.open()
    try:
        assert sink.journal_mode() == "wal"
        assert sqlite3.connect(sink.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        sink.close()


async def test_missing_dsn_variable_is_a_config_error(make_engine: MakeEngine) -> None:
    with pytest.raises(ConfigError, match=r"telemetry.sinks\[0\].dsn_env.*NOPE_DSN"):
        make_engine(SIM + "telemetry: {sinks: [{kind: postgres, dsn_env: NOPE_DSN}]}\n", env={})


def test_postgres_sink_never_shows_its_dsn() -> None:
    sink = PostgresSink("PGX", env={"PGX": "postgresql://u:hunter2-secret@h/db"})
    assert "hunter2" not in repr(sink) and "hunter2" not in sink.name
