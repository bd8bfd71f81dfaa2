"""What SQLite and PostgreSQL share: versioned migrations, inserts, queries.

The full record is kept as JSON (``body``) next to the columns reports filter
and group on. Migrations are an ordered list; ``schema_version`` holds every
applied version, and each migration runs in its own transaction, so a
database is always at a known version. A dialect supplies the placeholder,
the column types and how to take the migration lock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.sinks.base import Item

__all__ = ["MIGRATIONS", "Dialect", "SqlStore", "record_row"]


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


#: (version, statements for a dialect), in order; never edit a shipped one, append.
MIGRATIONS: list[tuple[int, Callable[[Dialect], list[str]]]] = [(1, _migration_1), (2, _migration_2)]

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

    def insert(self, conn: Connection, items: Sequence[Item]) -> None:
        records = [record_row(i) for i in items if isinstance(i, Record)]
        feedback = [
            (f.request_id, f.time, f.score, f.thumbs, f.label, f.tenant, f.model_dump_json())
            for f in items
            if isinstance(f, Feedback)
        ]
        cur = conn.cursor()
        try:
            if records:
                marks = ", ".join(["?"] * len(records[0]))
                cur.executemany(
                    self._sql(
                        f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES ({marks}) "
                        "ON CONFLICT (request_id) DO NOTHING"
                    ),
                    records,
                )
            if feedback:
                cur.executemany(
                    self._sql(
                        "INSERT INTO feedback (request_id, time, score, thumbs, label, tenant, body) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    feedback,
                )
            conn.commit()
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
                sql = (
                    f"SELECT body FROM (SELECT body, time FROM records {where} ORDER BY time DESC LIMIT ?) t"
                )
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

    def get(self, request_id: str) -> Record | None:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(self._sql("SELECT body FROM records WHERE request_id = ?"), (request_id,))
            row = cur.fetchone()
            if row is None:
                return None
            record = _record(row[0])
            cur.execute(
                self._sql("SELECT body FROM feedback WHERE request_id = ? ORDER BY time"), (request_id,)
            )
            record.feedback = [Feedback.model_validate(_json(b)) for (b,) in cur.fetchall()]
            return record
        finally:
            conn.close()


def _json(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else json.loads(body)  # type: ignore[no-any-return]


def _record(body: Any) -> Record:
    return Record.model_validate(_json(body))
