"""`Checkpoint`: each batch item's state and result in SQLite, written so a SIGKILL loses nothing.

One row per ``custom_id``. An item moves ``pending → running → done | failed``
(or ``skipped`` when the run stopped before it: budget used up, cancelled).

Exactly-once accounting rests on two writes, each one transaction:

- *claim*: before an item is handed to a worker, its row becomes ``running``,
  ``starts`` is incremented and the budget it holds (``hold_nano``) is stored;
- *complete*: the result (output line, model, latency, …) and its cost are
  stored together with the new state, only if the row is still ``running``.

A result is therefore recorded, and charged, once or not at all. After a kill,
rows still ``running`` were in flight: `prepare` puts them back to
``pending`` (``interrupted`` +1) and adds their hold to ``lost_nano`` — an
upper bound of what the lost attempt may have spent upstream, since the item
could never spend past its hold — so the run budget stays a hard cap across
crashes. ``starts`` counts what the upstream may have seen of each item.

WAL journal with ``synchronous=NORMAL``: a committed transaction survives the
process being killed (not a power cut, which may lose the last ones; they are
then re-run, never double-charged). Money is stored as integer nano-dollars.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from modelyard._sqlite import enable_wal
from modelyard.batch.dispatch import ItemOutcome, ItemWork
from modelyard.batch.format import BatchItem, failed_line, output_line
from modelyard.errors import ModelyardError

__all__ = ["NANO", "Checkpoint", "CheckpointMismatchError", "CheckpointTotals", "from_nano", "to_nano"]

NANO = 1_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    custom_id     TEXT PRIMARY KEY,
    line          INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    starts        INTEGER NOT NULL DEFAULT 0,
    interrupted   INTEGER NOT NULL DEFAULT 0,
    hold_nano     INTEGER NOT NULL DEFAULT 0,
    lost_nano     INTEGER NOT NULL DEFAULT 0,
    cost_nano     INTEGER NOT NULL DEFAULT 0,
    runs          INTEGER NOT NULL DEFAULT 0,
    status_code   INTEGER,
    model         TEXT,
    family        TEXT,
    route         TEXT,
    latency_ms    REAL,
    escalations   INTEGER,
    fallbacks     INTEGER,
    attempts      INTEGER,
    input_tokens  INTEGER,
    output_tokens INTEGER,
    downgraded    INTEGER,
    held_back     INTEGER,
    simulated     INTEGER,
    spend         TEXT,
    answer_in     INTEGER,
    answer_out    INTEGER,
    error_code    TEXT,
    error_message TEXT,
    output        BLOB,
    finished_at   REAL
);
CREATE INDEX IF NOT EXISTS items_state ON items(state);
"""


def to_nano(usd: float) -> int:
    return round(usd * NANO)


def from_nano(nano: int) -> float:
    return nano / NANO


class CheckpointMismatchError(ModelyardError):
    """The checkpoint was written for another input file."""


@dataclass(slots=True)
class CheckpointTotals:
    """Counts and money over the whole checkpoint (every run of it so far)."""

    total: int
    pending: int
    running: int
    done: int
    failed: int
    skipped: int
    spent_nano: int
    lost_nano: int
    interrupted: int
    starts: int

    @property
    def spent_usd(self) -> float:
        return from_nano(self.spent_nano)

    @property
    def lost_usd(self) -> float:
        return from_nano(self.lost_nano)


class Checkpoint:
    """A SQLite checkpoint at ``path`` (created if missing). Single writer: the run's coordinator."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        enable_wal(self._db)  # several openers at once (gateway workers) must not fail
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r})"

    # -- meta ----------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- start of a run ------------------------------------------------------------------

    def prepare(self, items: Sequence[BatchItem], digest: str, *, retry_failed: bool = False) -> list[str]:
        """Bind to the input (or check it is the same), recover from a kill; the ids to run, in line order.

        Raises `CheckpointMismatchError` when the checkpoint belongs to another input.
        """
        known = self.meta("input_sha256")
        if known is not None and known != digest:
            raise CheckpointMismatchError(
                f"{self.path}: this checkpoint belongs to another input file (sha256 {known[:12]}…, "
                f"this file is {digest[:12]}…); pass another --checkpoint or delete it to start over"
            )
        with self._tx() as db:
            if known is None:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('input_sha256', ?)", (digest,))
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('created_at', ?)", (str(time.time()),))
            db.executemany(
                "INSERT OR IGNORE INTO items(custom_id, line) VALUES (?, ?)", ((i.custom_id, i.line) for i in items)
            )
            # in flight at a kill: run again; what they held bounds what the lost attempt spent
            db.execute(
                "UPDATE items SET state = 'pending', interrupted = interrupted + 1, "
                "lost_nano = lost_nano + hold_nano, hold_nano = 0 WHERE state = 'running'"
            )
            db.execute("UPDATE items SET state = 'pending' WHERE state = 'skipped'")
            if retry_failed:
                db.execute("UPDATE items SET state = 'pending' WHERE state = 'failed'")
        rows = self._db.execute("SELECT custom_id FROM items WHERE state = 'pending' ORDER BY line").fetchall()
        return [r[0] for r in rows]

    # -- the two writes ------------------------------------------------------------------

    def claim(self, works: Iterable[tuple[ItemWork, int]]) -> None:
        """Mark items running with their hold (nano-USD), in one transaction, before they are sent."""
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET state = 'running', starts = starts + 1, hold_nano = ? WHERE custom_id = ?",
                ((hold, work.custom_id) for work, hold in works),
            )

    def complete(self, outcomes: Iterable[ItemOutcome]) -> None:
        """Record results and their cost in one transaction; only rows still ``running`` change."""
        now = time.time()
        rows = []
        for o in outcomes:
            if o.ok:
                state, line = "done", output_line(o.custom_id, o.status_code, o.request_id, o.body or {})
            elif o.status_code:
                state, line = "failed", output_line(o.custom_id, o.status_code, o.request_id, o.body or {})
            else:
                state, line = "failed", failed_line(o.custom_id, o.error_code or "failed", o.error_message or "")
            rows.append((
                state, to_nano(o.cost_usd), o.status_code or None, o.model, o.family, o.route, o.latency_ms,
                o.escalations, o.fallbacks, o.attempts, o.input_tokens, o.output_tokens, int(o.downgraded), o.held_back,
                int(o.simulated), orjson.dumps(o.spend).decode(), o.answer_tokens[0], o.answer_tokens[1],
                o.error_code, o.error_message, line, now,
                o.custom_id,
            ))
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET state = ?, cost_nano = cost_nano + ?, runs = runs + 1, hold_nano = 0, "
                "status_code = ?, model = ?, family = ?, route = ?, latency_ms = ?, escalations = ?, "
                "fallbacks = ?, attempts = ?, input_tokens = ?, output_tokens = ?, downgraded = ?, held_back = ?, "
                "simulated = ?, spend = ?, answer_in = ?, answer_out = ?, error_code = ?, error_message = ?, "
                "output = ?, "
                "finished_at = ? WHERE custom_id = ? AND state = 'running'",
                rows,
            )

    def release(self, custom_ids: Iterable[str], *, lost: bool) -> None:
        """Put running items back to pending (a worker died); ``lost``: count their holds as spent."""
        sql = (
            "UPDATE items SET state = 'pending', interrupted = interrupted + 1, lost_nano = lost_nano + hold_nano, "
            "hold_nano = 0 WHERE custom_id = ? AND state = 'running'"
            if lost
            else "UPDATE items SET state = 'pending', hold_nano = 0 WHERE custom_id = ? AND state = 'running'"
        )
        with self._tx() as db:
            db.executemany(sql, ((c,) for c in custom_ids))

    def skip(self, custom_ids: Iterable[str], code: str, message: str) -> None:
        """Items the run will not start (budget used up, cancelled): ``skipped`` with a reason line."""
        with self._tx() as db:
            db.executemany(
                "UPDATE items SET state = 'skipped', error_code = ?, error_message = ?, output = ? "
                "WHERE custom_id = ? AND state = 'pending'",
                ((code, message, failed_line(c, code, message), c) for c in custom_ids),
            )

    # -- reading ------------------------------------------------------------------------

    def totals(self) -> CheckpointTotals:
        row = self._db.execute(
            "SELECT COUNT(*), "
            "COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'running'), 0), "
            "COALESCE(SUM(state = 'done'), 0), COALESCE(SUM(state = 'failed'), 0), "
            "COALESCE(SUM(state = 'skipped'), 0), COALESCE(SUM(cost_nano), 0), COALESCE(SUM(lost_nano), 0), "
            "COALESCE(SUM(interrupted), 0), COALESCE(SUM(starts), 0) FROM items"
        ).fetchone()
        return CheckpointTotals(*(int(v) for v in row))

    def rows(self, columns: str = "*", where: str = "1") -> list[sqlite3.Row]:
        """Rows of the items table (for reports); ``columns``/``where`` are SQL fragments from code, never input."""
        self._db.row_factory = sqlite3.Row
        try:
            return list(self._db.execute(f"SELECT {columns} FROM items WHERE {where} ORDER BY line"))
        finally:
            self._db.row_factory = None

    def write_files(self, out: Path, errors: Path) -> tuple[int, int]:
        """Write the output file (done items) and the error file (failed and skipped), in input order.

        Each file is written beside its target and renamed over it. Returns (output lines, error lines).
        """
        counts = []
        for path, states in ((out, ("done",)), (errors, ("failed", "skipped"))):
            tmp = path.with_name(f".{path.name}.tmp")
            path.parent.mkdir(parents=True, exist_ok=True)
            marks = ",".join("?" * len(states))
            n = 0
            with tmp.open("wb") as fh:
                for (line,) in self._db.execute(
                    f"SELECT output FROM items WHERE state IN ({marks}) AND output IS NOT NULL ORDER BY line", states
                ):
                    fh.write(bytes(line) + b"\n")
                    n += 1
            tmp.replace(path)
            counts.append(n)
        return counts[0], counts[1]

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Parsed JSON lines of an output or error file."""
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield orjson.loads(raw)
