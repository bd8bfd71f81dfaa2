"""Rollups: the dashboard and reports read aggregates that agree with the records, in O(aggregates).

Run against SQLite and a real PostgreSQL server (the ``store_spec`` fixture).
"""

from __future__ import annotations

import math
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.config.telemetry import TelemetrySettings
from modelyard.engine import Engine
from modelyard.providers import ProviderContext
from modelyard.server import create_app
from modelyard.telemetry import EventRecord, Feedback, Record, TelemetryHub
from modelyard.telemetry.report import build_report, load_view
from modelyard.telemetry.rollup import quality_of, route_key
from modelyard.telemetry.sinks.postgres import PostgresSink
from modelyard.telemetry.sinks.sqlite import SqliteSink
from modelyard.telemetry.synthetic import bulk_fill
from modelyard.telemetry.view import Window
from tests.server.server_harness import serve
from tests.telemetry.conftest import SIM, StoreSpec, config, wait_until
from tests.telemetry.test_sinks import sink_for

T0 = 1_700_000_000.0


def varied(n: int, seed: int = 3) -> list[Record]:
    """Records over ~2 h with every field the rollups sum: statuses, events, judge scores, attempts."""
    rng = random.Random(seed)
    kinds = [("tiny", "slm", "default", ["default"]), ("medium", "moe", "smart", ["smart", "deep"]),
             ("large", "llm", "deep", ["deep"]), (None, None, None, [])]  # fmt: skip
    out = []
    for i in range(n):
        model, family, router, route = kinds[rng.randrange(4)]
        status = rng.choice(["ok"] * 8 + ["error", "safe_default"])
        cost = rng.random() / 100
        events = [
            EventRecord(kind=k, detail="x", at_ms=1.0) for k in rng.sample(["fallback", "retry"], rng.randint(0, 2))
        ]
        out.append(
            Record(
                request_id=f"r-{seed}-{i:05d}",
                time=T0 + rng.random() * 7200,
                model=model,
                family=family,
                router=router,
                route=route,
                status=status,
                latency_ms=rng.lognormvariate(3, 1.2),
                cost_usd=cost,
                input_tokens=rng.randint(1, 50),
                output_tokens=rng.randint(1, 50),
                simulated=rng.random() < 0.5,
                events=events,
                fallbacks=sum(e.kind == "fallback" for e in events),
                retries=sum(e.kind == "retry" for e in events),
                escalations=rng.randint(0, 1) if router == "smart" else 0,
                quality={"judge_score": round(rng.random(), 2)} if router == "smart" else {},
                attempts=[
                    {
                        "model": model or "tiny",
                        "provider": "sim",
                        "status": "ok",
                        "cost_usd": cost,  # type: ignore[list-item]
                        "input_tokens": 10,
                        "output_tokens": 10,
                    }
                ],
            )
        )
    return out


def exact_percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@pytest.mark.parametrize("since", [None, T0 + 1234.5], ids=["all", "since"])
def test_rollups_agree_with_the_records(store_spec: StoreSpec, since: float | None) -> None:
    sink = sink_for(store_spec)
    sink.open()
    try:
        records = varied(600)
        sink.write(records[:400])
        sink.write(records[350:])  # 50 re-sent records: stored once, counted once
        rated = [r for r in records if r.router == "smart"][:5] + [r for r in records if r.router == "default"][:5]
        for j, r in enumerate(rated):  # feedback replaces a judge score, or adds a quality
            sink.write([Feedback(request_id=r.request_id, time=T0 + 9000 + j, score=0.1 * j)])
            r.feedback.append(Feedback(request_id=r.request_id, time=T0 + 9000 + j, score=0.1 * j))
        view = sink.read_view(Window(since), latest=5, recent_since=T0 + 7000, span=True)
    finally:
        sink.close()
    head = Window(since).head
    inside = [r for r in records if head is None or r.time >= head]
    reads = view.reads
    total = reads.total()
    assert total.n == len(inside) and view.recent == sum(r.time >= T0 + 7000 for r in inside)
    assert total.cost_usd == pytest.approx(sum(r.cost_usd for r in inside))
    assert (total.errors, total.safe_defaults) == tuple(
        sum(r.status == s for r in inside) for s in ("error", "safe_default")
    )
    assert (total.fallbacks, total.retries) == (sum(r.fallbacks for r in inside), sum(r.retries for r in inside))
    assert view.first == min(r.time for r in inside) and view.last == max(r.time for r in inside)
    assert [r.request_id for r in view.latest] == [r.request_id for r in sorted(inside, key=lambda r: -r.time)[:5]]
    for g in reads.by_route():
        mine = [r for r in inside if route_key(r.route, r.router, r.model) == g.key]
        assert g.n == len(mine) and g.cost == pytest.approx(sum(r.cost_usd for r in mine))
        scored = [q for r in mine if (q := quality_of(r)) is not None]
        assert g.quality_n == len(scored)
        if scored:
            assert g.mean_quality == pytest.approx(sum(scored) / len(scored))
        for q in (50, 95):
            exact = exact_percentile([r.latency_ms for r in mine], q)
            got = g.agg.percentile(q)
            assert got is not None and exact / 1.25 <= got <= exact * 1.25, (g.key, q, exact, got)
    assert sum(n for n, _, _ in reads.timeline.values()) == len(inside)
    assert reads.observed_prices()["tiny"] == pytest.approx(
        sum(r.cost_usd for r in inside if r.model in ("tiny", None))
        / (20 * sum(r.model in ("tiny", None) for r in inside))
        * 1000
    )


class Counting:
    """A DB-API connection that counts statements executed and rows fetched, and for SQLite the
    virtual-machine instructions run (in hundreds): the work, which query and row counts miss
    when one query scans an index range."""

    def __init__(self, conn: Any, tally: dict[str, int]) -> None:
        self.conn, self.tally = conn, tally
        if isinstance(conn, sqlite3.Connection):

            def step() -> int:
                tally["vm_x100"] += 1
                return 0

            conn.set_progress_handler(step, 100)

    def cursor(self) -> Counting:
        return CountingCursor(self.conn.cursor(), self.tally)  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


class CountingCursor:
    def __init__(self, cur: Any, tally: dict[str, int]) -> None:
        self.cur, self.tally = cur, tally

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.tally["queries"] += 1
        return self.cur.execute(sql, params)

    def fetchall(self) -> list[Any]:
        rows = self.cur.fetchall()
        self.tally["rows"] += len(rows)
        return list(rows)

    def fetchone(self) -> Any:
        row = self.cur.fetchone()
        self.tally["rows"] += row is not None
        return row


@pytest.fixture
def gateway_on(store_spec: StoreSpec) -> Iterator[tuple[str, Engine]]:
    yaml = SIM + f"routers: {{default: {{kind: fixed, target: tiny}}}}\ntelemetry: {{sinks: [{store_spec.yaml}]}}\n"
    engine = Engine(config(yaml, store_spec.env), provider_context=ProviderContext(env=store_spec.env))
    with serve(create_app(engine)) as url:
        yield url, engine


@pytest.mark.timeout(300)
def test_summary_query_count_does_not_grow_with_records(gateway_on: tuple[str, Engine]) -> None:
    url, engine = gateway_on
    assert engine.telemetry is not None
    sink = engine.telemetry.view_store
    assert isinstance(sink, SqliteSink | PostgresSink)
    conn = sink.store.connect()  # migrate before filling
    sink.store.migrate(conn)
    conn.close()
    tally = {"queries": 0, "rows": 0, "vm_x100": 0}
    connect = sink.store.connect
    sink.store.connect = lambda: Counting(connect(), tally)  # type: ignore[method-assign, assignment, return-value]
    now = time.time()
    seen = []
    filled = 0
    for n in (5_000, 60_000):  # 5,000 already fill nearly every (10 s, route) rollup of the window
        sink.store.connect = connect  # type: ignore[method-assign]
        filled += bulk_fill(sink.store, n, now - 880, now - 1, seed=n)  # same window, same keys
        sink.store.connect = lambda: Counting(connect(), tally)  # type: ignore[method-assign, assignment, return-value]
        tally.update(queries=0, rows=0, vm_x100=0)
        d = httpx.get(f"{url}/dashboard/api/summary?window=900", timeout=60).json()
        assert d["totals"]["requests"] == filled
        seen.append(dict(tally))
    work = [t.pop("vm_x100") for t in seen]
    assert seen[0] == seen[1], seen  # same statements, same rows fetched at 65k records as at 5k
    assert seen[0]["queries"] <= 8 and seen[0]["rows"] < 200
    assert work[1] <= 1.25 * work[0] + 10, work  # SQLite: about the same work for 13× the records


def test_retention_prunes_records_and_keeps_rollups(store_spec: StoreSpec) -> None:
    settings = TelemetrySettings(flush_interval_ms=5, retention={"records_days": 1, "prune_every_s": 0.01})  # type: ignore[arg-type]
    sink = sink_for(store_spec)
    hub = TelemetryHub(settings, {}, sinks=[sink])
    now = time.time()
    try:
        old = [Record(request_id=f"old-{i}", time=now - 3 * 86_400 + i, model="tiny", cost_usd=0.5) for i in range(30)]
        new = [Record(request_id=f"new-{i}", time=now - 60 + i, model="tiny", cost_usd=0.25) for i in range(20)]
        for r in old + new:
            hub.workers[0].offer(r)
        assert hub.flush()
        assert wait_until(lambda: hub.workers[0].pruned == 30)
        assert [r.request_id for r in sink.query()] == [r.request_id for r in new]
        total = sink.read_view(Window(None)).reads.total()
        assert (total.n, total.cost_usd) == (50, pytest.approx(30 * 0.5 + 20 * 0.25))  # type: ignore[comparison-overlap]
    finally:
        hub.close()


def test_a_database_from_before_rollups_gets_them(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    sink = SqliteSink(db)
    sink.open()
    sink.write(varied(300))
    sink.close()
    raw = sqlite3.connect(db)  # back to schema version 2: no rollup tables
    raw.executescript("DROP TABLE rollups; DROP TABLE rollup_prices; DELETE FROM schema_version WHERE version = 3;")
    raw.close()
    data = load_view(str(db))  # opens (migrates, backfills) then reads
    assert data.reads.total().n == 300
    assert data.reads.total().cost_usd == pytest.approx(sum(r.cost_usd for r in varied(300)))


def test_report_reads_the_same_from_jsonl_sqlite_and_postgres(
    store_spec: StoreSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = varied(400, seed=9)
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("".join(r.to_json() + "\n" for r in records) + records[0].to_json() + "\n")
    sink = sink_for(store_spec)
    sink.open()
    sink.write(records)
    sink.close()
    where = str(sink.path) if isinstance(sink, SqliteSink) else f"postgres:{sink.dsn_env}"
    if isinstance(sink, PostgresSink):  # load_view reads the DSN from the environment, schema from the DSN
        dsn = store_spec.env[sink.dsn_env] + f" options='-c search_path={sink.schema}'"
        monkeypatch.setenv(sink.dsn_env, dsn)
    for since in (None, T0 + 3600 + 5.0):
        a, b = (build_report(load_view(src, since=since)) for src in (str(jsonl), where))
        assert a.records == b.records and a.cost_usd == pytest.approx(b.cost_usd)
        assert [(g.key, g.n, g.p50) for g in a.by_model] == [(g.key, g.n, pytest.approx(g.p50)) for g in b.by_model]  # type: ignore[comparison-overlap]
        assert a.cheap == b.cheap and a.cheap_share == pytest.approx(b.cheap_share)
    if isinstance(sink, SqliteSink):
        _register_all()
        result = CliRunner().invoke(app, ["report", "--db", where, "--out", str(tmp_path / "plots")])
        assert result.exit_code == 0, result.output
        assert "400 requests" in result.output and len(list((tmp_path / "plots").glob("*.png"))) == 3


@pytest.mark.parametrize("written_first", [False, True], ids=["feedback-before-write", "feedback-after-write"])
def test_feedback_counts_once_in_the_rollups(store_spec: StoreSpec, written_first: bool) -> None:
    """The hub attaches feedback to the record objects it still queues; the sink must not count it twice."""
    sink = sink_for(store_spec)
    hub = TelemetryHub(TelemetrySettings(flush_interval_ms=5), {}, sinks=[sink])
    try:
        judged = Record(request_id="judged", time=T0, model="tiny", router="r", quality={"judge_score": 0.2})
        plain = Record(request_id="plain", time=T0 + 1, model="tiny", router="r")
        for r in (judged, plain):
            hub.recent.append(r)  # as on_request_end does: the ring and the queue hold the same object
            hub.workers[0].offer(r)
        if written_first:
            assert hub.flush()
        hub.feedback(Feedback(request_id="judged", time=T0 + 5, score=1.0))  # replaces the judge's 0.2
        hub.feedback(Feedback(request_id="plain", time=T0 + 6, score=0.5))
        assert hub.flush()
        total = sink.read_view(Window(None)).reads.total()
        assert (total.quality_n, total.quality_sum) == (2, pytest.approx(1.5))  # type: ignore[comparison-overlap]
    finally:
        hub.close()
