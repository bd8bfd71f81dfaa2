"""SQLite sink: the embedded default. WAL mode, so readers never block the writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard._sqlite import enable_wal
from modelyard.telemetry.sinks.base import Item, writer_class
from modelyard.telemetry.sinks.sql import Dialect, SqlStore
from modelyard.telemetry.sinks.store_reads import StoreReads

__all__ = ["SQLITE", "SqliteSink"]

SQLITE = Dialect(
    name="sqlite",
    param="?",
    json_type="TEXT",
    float_type="REAL",
    lock="BEGIN IMMEDIATE",  # one process migrates at a time; the others wait (timeout) then see it done
    autoinc="INTEGER PRIMARY KEY AUTOINCREMENT",
    # No INSERT … RETURNING here: SQLite hands back each returned row with one more sqlite3_step,
    # and every step releases the GIL — the per-row convoy behind a busy event loop again (measured:
    # 50 of 2,050 records written in a timed window). One SELECT of the batch's ids that are already
    # stored (normally none: one step), then one plain multi-row INSERT.
    returning=False,
)


#: How long opening waits for other connections (threads, gateway workers) holding the database.
_LOCK_TIMEOUT_S = 10.0


class SqliteSink(StoreReads):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"sqlite:{self.path}"
        self.store = SqlStore(SQLITE, self._connect)
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=_LOCK_TIMEOUT_S, check_same_thread=False)  # one user at a time
        try:
            enable_wal(conn, _LOCK_TIMEOUT_S)
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()
        self.store.migrate(self._conn)

    def write(self, items: Sequence[Item]) -> None:
        assert self._conn is not None, "open() first"
        self.store.insert(self._conn, items)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def writer_spec(self) -> dict[str, str]:
        """What a writer process builds this sink from (`modelyard.telemetry.writer_process`)."""
        return {"sink": writer_class(type(self)), "path": str(self.path.absolute())}

    @classmethod
    def from_writer_spec(cls, spec: Mapping[str, Any]) -> SqliteSink:
        """The copy a writer process builds from `writer_spec`."""
        return cls(spec["path"])

    def journal_mode(self) -> str:
        conn = self._connect()
        try:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            conn.close()
