"""`StepStore`: durable state of action-graph runs, so a crashed run resumes where it was.

The executor writes a step's state before it calls the tool (``running``, with
its idempotency key) and again when the call ends (``done`` with the result, or
``failed`` with every error). A process killed at any point leaves either a
finished step (never run again) or a ``running`` one, which the executor treats
as *in doubt* on resume (see `modelyard.actions.executor`).

`SQLiteStepStore` is the default: one file, WAL, ``synchronous=FULL`` (a
committed step survives power loss, not just a killed process).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from modelyard._sqlite import enable_wal
from modelyard.actions.report import RunStatus, StepReport

__all__ = ["RunRow", "SQLiteStepStore", "StepStore", "default_store_path"]


class RunRow(Protocol):
    run_id: str
    graph: dict[str, Any]
    inputs: dict[str, Any]
    tenant: str | None
    status: str


class _Run:
    __slots__ = ("graph", "inputs", "run_id", "status", "tenant")

    def __init__(self, run_id: str, graph: dict[str, Any], inputs: dict[str, Any], tenant: str | None, status: str):
        self.run_id, self.graph, self.inputs, self.tenant, self.status = run_id, graph, inputs, tenant, status


class StepStore(Protocol):
    """Where runs and their steps live. Every write is durable when the call returns."""

    def create_run(self, run_id: str, graph: dict[str, Any], inputs: dict[str, Any], tenant: str | None) -> bool:
        """Record a new run; False (and nothing changed) when ``run_id`` exists already."""
        ...

    def load_run(self, run_id: str) -> RunRow | None: ...

    def set_run_status(self, run_id: str, status: RunStatus) -> None: ...

    def load_steps(self, run_id: str) -> dict[str, StepReport]: ...

    def save_step(self, run_id: str, step: StepReport) -> None: ...

    def close(self) -> None: ...


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/modelyard/actions.db`` (``~/.local/share`` when unset)."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "modelyard" / "actions.db"


class SQLiteStepStore:
    """A `StepStore` in one SQLite file (``:memory:`` for a store that dies with the process)."""

    def __init__(self, path: str | Path | None = None) -> None:
        target = str(path) if path is not None else str(default_store_path())
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        enable_wal(self._db)  # several openers at once (gateway workers) must not fail
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS action_runs (
                run_id TEXT PRIMARY KEY, graph TEXT NOT NULL, inputs TEXT NOT NULL,
                tenant TEXT, status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS action_steps (
                run_id TEXT NOT NULL, step_id TEXT NOT NULL, state TEXT NOT NULL, updated REAL NOT NULL,
                PRIMARY KEY (run_id, step_id));
            """
        )

    def __repr__(self) -> str:
        return f"SQLiteStepStore({self.path!r})"

    def create_run(self, run_id: str, graph: dict[str, Any], inputs: dict[str, Any], tenant: str | None) -> bool:
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO action_runs VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (run_id, json.dumps(graph), json.dumps(inputs), tenant, now, now),
            )
            return cur.rowcount == 1

    def load_run(self, run_id: str) -> RunRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT graph, inputs, tenant, status FROM action_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        if row is None:
            return None
        return _Run(run_id, json.loads(row[0]), json.loads(row[1]), row[2], row[3])

    def set_run_status(self, run_id: str, status: RunStatus) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE action_runs SET status = ?, updated = ? WHERE run_id = ?", (status, time.time(), run_id)
            )

    def load_steps(self, run_id: str) -> dict[str, StepReport]:
        with self._lock:
            rows = self._db.execute("SELECT state FROM action_steps WHERE run_id = ?", (run_id,)).fetchall()
        steps = [StepReport.model_validate_json(r[0]) for r in rows]
        return {s.id: s for s in steps}

    def save_step(self, run_id: str, step: StepReport) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO action_steps VALUES (?, ?, ?, ?) "
                "ON CONFLICT(run_id, step_id) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                (run_id, step.id, step.model_dump_json(), time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
