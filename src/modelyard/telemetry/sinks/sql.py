"""What SQLite and PostgreSQL share: versioned migrations, inserts, queries.

The full record is kept as JSON (``body``) next to the columns reports filter
and group on. Migrations are an ordered list; ``schema_version`` holds every
applied version, and each migration runs in its own transaction, so a
database is always at a known version. A dialect supplies the placeholder,
the column types and how to take the migration lock.

Every write also adds the batch to the rollup tables (`sql_rollups`) in the
same transaction, and feedback moves its record's quality there; the
dashboard and reports read those (`read_view`), never every record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.rollup import SPANS, RollupBatch, facts_of, quality_of
from modelyard.telemetry.sinks.base import Item
from modelyard.telemetry.sinks.sql_rollups import chunks, migration_3, upsert_sql, window_reads, write_batch
from modelyard.telemetry.view import Reads, Window

__all__ = ["MIGRATIONS", "Dialect", "SqlStore", "StoreView", "record_row"]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    param: str  # "?" or "%s"
    json_type: str  # TEXT or JSONB
    float_type: str
    lock: str | None  # statement taking the migration lock inside a transaction
    autoinc: str
    least: str = "min"  # two-argument minimum / maximum (SQLite's min/max, PostgreSQL's LEAST/GREATEST)
    greatest: str = "max"
    returning: bool = True  # INSERT … RETURNING (SQLite ≥ 3.35, PostgreSQL)


def _migration_1(d: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS records (
            request_id TEXT PRIMARY KEY,
            time {d.float_type} NOT NULL,
            tenant TEXT,
            endpoint TEXT,
            router TEXT,
            route TEXT,
            model TEXT,
            family TEXT,
            provider TEXT,
            status TEXT NOT NULL,
            error_kind TEXT,
            latency_ms {d.float_type},
            ttft_ms {d.float_type},
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd {d.float_type},
            escalations INTEGER,
            fallbacks INTEGER,
            simulated INTEGER,
            record_version INTEGER NOT NULL,
            body {d.json_type} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS records_time ON records (time)",
    ]


def _migration_2(d: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS feedback (
            id {d.autoinc},
            request_id TEXT NOT NULL,
            time {d.float_type} NOT NULL,
            score {d.float_type},
            thumbs TEXT,
            label TEXT,
            tenant TEXT,
            body {d.json_type} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)",
    ]


def _migration_3(d: Dialect) -> list[str]:
    return migration_3(d.float_type)


#: (version, statements for a dialect), in order; never edit a shipped one, append.
MIGRATIONS: list[tuple[int, Callable[[Dialect], list[str]]]] = [
    (1, _migration_1),
    (2, _migration_2),
    (3, _migration_3),
]

_RECORD_COLUMNS = (
    "request_id, time, tenant, endpoint, router, route, model, family, provider, status, error_kind, "
    "latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, escalations, fallbacks, simulated, "
    "record_version, body"
)


def record_row(r: Record) -> tuple[Any, ...]:
    return (
        r.request_id,
        r.time,
        r.tenant,
        r.endpoint,
        r.router,
        " → ".join(r.route),
        r.model,
        r.family,
        r.provider,
        r.status,
        r.error_kind,
        r.latency_ms,
        r.ttft_ms,
        r.input_tokens,
        r.output_tokens,
        r.cost_usd,
        r.escalations,
        r.fallbacks,
        int(r.simulated),
        r.schema_version,
        r.to_json(),
    )


class SqlStore:
    """Migrate, write and read one database through DB-API connections from ``connect``."""

    def __init__(self, dialect: Dialect, connect: Callable[[], Connection]) -> None:
        self.dialect = dialect
        self.connect = connect

    def _sql(self, text: str) -> str:
        return text.replace("?", self.dialect.param)

    def sql(self, text: str) -> str:
        """``text`` with this dialect's placeholder for every ``?``."""
        return self._sql(text)

    # -- migrations ----------------------------------------------------------------

    def migrate(self, conn: Connection) -> list[int]:
        """Apply every migration not yet recorded; returns the versions applied now."""
        applied: list[int] = []
        cur = conn.cursor()
        if self.dialect.lock:  # CREATE … IF NOT EXISTS is not safe against a concurrent creator
            cur.execute(self.dialect.lock)
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
            f"applied_at {self.dialect.float_type} NOT NULL)"
        )
        conn.commit()
        for version, statements in MIGRATIONS:
            if self.dialect.lock:
                cur.execute(self.dialect.lock)
            cur.execute(self._sql("SELECT 1 FROM schema_version WHERE version = ?"), (version,))
            if cur.fetchone() is not None:
                conn.commit()
                continue
            try:
                for statement in statements(self.dialect):
                    cur.execute(statement)
                if version == 3:  # rollups of the records a database already holds
                    self._backfill_rollups(cur)
                cur.execute(
                    self._sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"),
                    (version, time.time()),
                )
                conn.commit()
            except Exception:
                conn.rollback()
                raise
            applied.append(version)
        return applied

    def version(self, conn: Connection) -> int:
        cur = conn.cursor()
        cur.execute("SELECT MAX(version) FROM schema_version")
        row = cur.fetchone()
        return int(row[0] or 0)

    # -- writing ---------------------------------------------------------------------

    def upsert_statements(self, rows: int) -> tuple[str, str]:
        d = self.dialect
        rollups, prices = upsert_sql("?", rows, least=d.least, greatest=d.greatest)
        return self._sql(rollups), self._sql(prices)

    def insert(self, conn: Connection, items: Sequence[Item]) -> None:
        """Write records and feedback and add them to the rollups, in one transaction.

        Records whose id is already stored (a re-sent batch) are skipped, so
        they are not counted twice. Rows go in as multi-row statements: each
        statement step releases the GIL, and a writer thread that releases it
        once per row waits a switch interval per row behind a busy event loop.
        """
        records = [i for i in items if isinstance(i, Record)]
        feedback = [i for i in items if isinstance(i, Feedback)]
        cur = conn.cursor()
        try:
            if records:
                records = self._insert_records(cur, records)
            if records:
                facts = (facts_of(r, feedback=False) for r in records)  # feedback counts when its row is written
                write_batch(cur, RollupBatch().extend(facts), self.upsert_statements)
            for fb in feedback:  # rare: one at a time, each sees the ones before it
                self._add_feedback(cur, fb)
            conn.commit()
        except Exception:
            conn.rollback()
            raise

    def _insert_records(self, cur: Any, records: list[Record]) -> list[Record]:
        """Insert ``records``; returns those actually inserted (not already stored, first of repeats).

        Few statements per batch, whatever its size (see `chunks`): one lookup of the ids already
        stored (normally none), then one multi-row INSERT per 1,000 records.
        """
        unique = list({r.request_id: r for r in reversed(records)}.values())[::-1]  # first of repeats
        if self.dialect.returning:  # PostgreSQL: the inserted ids come back with the insert
            return self._insert_returning(cur, unique)
        stored: set[str] = set()
        for part in chunks([r.request_id for r in unique], 5000):
            cur.execute(
                self._sql(f"SELECT request_id FROM records WHERE request_id IN ({', '.join(['?'] * len(part))})"), part
            )
            stored.update(row[0] for row in cur.fetchall())
        fresh = [r for r in unique if r.request_id not in stored]
        rows = [record_row(r) for r in fresh]
        for part in chunks(rows, 1000):
            one = "(" + ", ".join(["?"] * len(part[0])) + ")"
            cur.execute(
                self._sql(f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES {', '.join([one] * len(part))}"),
                [v for row in part for v in row],
            )
        return fresh

    def _insert_returning(self, cur: Any, unique: list[Record]) -> list[Record]:
        rows = [record_row(r) for r in unique]
        inserted: set[str] = set()
        for part in chunks(rows, 1000):
            one = "(" + ", ".join(["?"] * len(part[0])) + ")"
            cur.execute(
                self._sql(
                    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES {', '.join([one] * len(part))} "
                    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
                ),
                [v for row in part for v in row],
            )
            inserted.update(row[0] for row in cur.fetchall())
        return [r for r in unique if r.request_id in inserted]

    def _add_feedback(self, cur: Any, fb: Feedback) -> None:
        """Store ``fb`` and move its record's quality in the rollups from the old value to the new."""
        cur.execute(self._sql("SELECT body FROM records WHERE request_id = ?"), (fb.request_id,))
        row = cur.fetchone()
        if row is not None:
            record = _record(row[0])
            cur.execute(self._sql("SELECT body FROM feedback WHERE request_id = ? ORDER BY time, id"), (fb.request_id,))
            record.feedback = [Feedback.model_validate(_json(b)) for (b,) in cur.fetchall()]
            before = quality_of(record)
            record.feedback.append(fb)
            after = quality_of(record)
            if after != before:
                facts = facts_of(record)
                for span in SPANS:
                    cur.execute(
                        self._sql(
                            "UPDATE rollups SET quality_sum = quality_sum + ?, quality_n = quality_n + ? "
                            "WHERE span = ? AND start = ? AND model = ? AND family = ? AND route = ? AND router = ?"
                        ),
                        (
                            (after or 0.0) - (before or 0.0),
                            (after is not None) - (before is not None),
                            span,
                            int(record.time // span) * span,
                            facts.model,
                            facts.family,
                            facts.route,
                            facts.router,
                        ),
                    )
        cur.execute(
            self._sql(
                "INSERT INTO feedback (request_id, time, score, thumbs, label, tenant, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            (fb.request_id, fb.time, fb.score, fb.thumbs, fb.label, fb.tenant, fb.model_dump_json()),
        )

    def _backfill_rollups(self, cur: Any, chunk: int = 5000) -> None:
        """Sum the records already stored into the rollups (migration 3), a chunk at a time."""
        cur.execute("SELECT request_id, body FROM feedback ORDER BY time, id")
        feedback: dict[str, list[Feedback]] = {}
        for rid, body in cur.fetchall():
            feedback.setdefault(rid, []).append(Feedback.model_validate(_json(body)))
        after: tuple[float, str] = (float("-inf"), "")
        while True:
            cur.execute(
                self._sql(
                    "SELECT time, request_id, body FROM records WHERE time > ? OR (time = ? AND request_id > ?) "
                    "ORDER BY time, request_id LIMIT ?"
                ),
                (after[0], after[0], after[1], chunk),
            )
            rows = cur.fetchall()
            if not rows:
                return
            batch = RollupBatch()
            for _, rid, body in rows:
                record = _record(body)
                record.feedback = feedback.get(rid, [])
                batch.add(facts_of(record))
            write_batch(cur, batch, self.upsert_statements)
            after = (float(rows[-1][0]), str(rows[-1][1]))

    def prune(self, conn: Connection, before: float) -> int:
        """Delete records (and their feedback) older than ``before``; rollups stay. Returns records deleted."""
        cur = conn.cursor()
        try:
            cur.execute(
                self._sql("DELETE FROM feedback WHERE request_id IN (SELECT request_id FROM records WHERE time < ?)"),
                (before,),
            )
            cur.execute(self._sql("DELETE FROM records WHERE time < ?"), (before,))
            deleted = int(cur.rowcount or 0)
            conn.commit()
            return deleted
        except Exception:
            conn.rollback()
            raise

    # -- reading -----------------------------------------------------------------------

    def query(self, *, since: float | None = None, limit: int | None = None) -> list[Record]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            where, params = ("WHERE time >= ?", [since]) if since is not None else ("", [])
            if limit:
                sql = f"SELECT body FROM (SELECT body, time FROM records {where} ORDER BY time DESC LIMIT ?) t"
                params.append(limit)
            else:
                sql = f"SELECT body, time FROM records {where}"
            cur.execute(self._sql(sql + " ORDER BY time"), params)
            records = [_record(row[0]) for row in cur.fetchall()]
            by_id = {r.request_id: r for r in records}
            if by_id:
                fb_where = "WHERE r.time >= ?" if since is not None else ""
                cur.execute(
                    self._sql(
                        "SELECT f.body FROM feedback f JOIN records r ON r.request_id = f.request_id "
                        f"{fb_where} ORDER BY f.time"
                    ),
                    [since] if since is not None else [],
                )
                for (body,) in cur.fetchall():
                    fb = Feedback.model_validate(_json(body))
                    if fb.request_id in by_id:
                        by_id[fb.request_id].feedback.append(fb)
            return records
        finally:
            conn.close()

    def read_view(
        self,
        window: Window,
        *,
        latest: int = 0,
        recent_since: float | None = None,
        family_cost: bool = False,
        span: bool = False,
    ) -> StoreView:
        """A window's aggregates, plus on request: the newest ``latest`` records, the count since
        ``recent_since``, the first and last record time (``span``). Each query is answered from the
        rollup primary key or the ``time`` index: none reads every record of the window (a
        ``MIN(time), MAX(time)`` pair would: SQLite uses the index for one bare MIN or MAX only)."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            view = StoreView(window_reads(cur, self._sql, window, family_cost=family_cost))
            where, params = ("WHERE time >= ?", [window.head]) if window.head is not None else ("", [])
            if span:
                cur.execute(self._sql(f"SELECT time FROM records {where} ORDER BY time LIMIT 1"), params)
                row = cur.fetchone()
                view.first = float(row[0]) if row is not None else None
                cur.execute("SELECT time FROM records ORDER BY time DESC LIMIT 1")
                row = cur.fetchone()
                view.last = float(row[0]) if row is not None and view.first is not None else None
            if latest:
                newest = f"SELECT body FROM records {where} ORDER BY time DESC LIMIT ?"
                cur.execute(self._sql(newest), [*params, latest])
                view.latest = [_record(b) for (b,) in cur.fetchall()]
            if recent_since is not None:
                cur.execute(self._sql("SELECT COUNT(*) FROM records WHERE time >= ?"), (recent_since,))
                view.recent = int(cur.fetchone()[0])
            return view
        finally:
            conn.close()

    def get(self, request_id: str) -> Record | None:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(self._sql("SELECT body FROM records WHERE request_id = ?"), (request_id,))
            row = cur.fetchone()
            if row is None:
                return None
            record = _record(row[0])
            cur.execute(self._sql("SELECT body FROM feedback WHERE request_id = ? ORDER BY time"), (request_id,))
            record.feedback = [Feedback.model_validate(_json(b)) for (b,) in cur.fetchall()]
            return record
        finally:
            conn.close()


@dataclass
class StoreView:
    """What `SqlStore.read_view` returns: aggregates plus a few index lookups."""

    reads: Reads
    first: float | None = None
    last: float | None = None
    latest: list[Record] = field(default_factory=list)  # newest first
    recent: int = 0


def _json(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else json.loads(body)  # type: ignore[no-any-return]


def _record(body: Any) -> Record:
    return Record.model_validate(_json(body))
