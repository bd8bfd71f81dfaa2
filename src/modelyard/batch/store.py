"""`BatchStore`: the gateway's uploaded files and batch jobs, in a directory with a SQLite index.

Layout under ``root``: ``files/<file id>`` (the bytes), ``batches/<batch id>/``
(the job's checkpoint), ``store.sqlite`` (file and batch records). Several
gateway workers can share one root: reads see every worker's batches, and a
cancel written by one is seen by the worker running the job.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelyard._sqlite import enable_wal

__all__ = ["BATCH_DIR_ENV", "BatchStore", "default_root", "public"]

_UNFINISHED = ("validating", "in_progress", "finalizing", "cancelling")

#: where the gateway keeps batch files; default ``$XDG_DATA_HOME/modelyard/batches``
BATCH_DIR_ENV = "MODELYARD_BATCH_DIR"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, created_at INTEGER, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, created_at INTEGER, body TEXT NOT NULL);
"""


def default_root() -> Path:
    explicit = os.environ.get(BATCH_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "modelyard" / "batches"


def public(batch: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI batch object: the store's private fields (``_owner``) removed."""
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _id(prefix: str) -> str:
    return f"{prefix}{os.urandom(12).hex()}"


class BatchStore:
    """File and batch records as OpenAI-shaped dicts."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        (self.root / "batches").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "store.sqlite", isolation_level=None, check_same_thread=False)
        enable_wal(self._db)  # several openers at once (gateway workers) must not fail
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"BatchStore({str(self.root)!r})"

    # -- files ------------------------------------------------------------------------

    def file_path(self, file_id: str) -> Path:
        return self.root / "files" / file_id

    def add_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = _id("file-")
        path = self.file_path(file_id)
        tmp = path.with_name(f".{file_id}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return self.register_file(file_id, len(data), filename, purpose)

    def register_file(self, file_id: str, size: int, filename: str, purpose: str) -> dict[str, Any]:
        body = {"id": file_id, "object": "file", "bytes": size, "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed", "expires_at": None,
                "status_details": None}
        with self._lock:
            self._db.execute("INSERT INTO files(id, created_at, body) VALUES (?, ?, ?)",
                             (file_id, body["created_at"], json.dumps(body)))
        return body

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list_files(self, purpose: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM files ORDER BY created_at DESC, id").fetchall()
        files = [json.loads(r[0]) for r in rows]
        return [f for f in files if purpose is None or f["purpose"] == purpose]

    def delete_file(self, file_id: str) -> bool:
        with self._lock:
            gone = self._db.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0
        self.file_path(file_id).unlink(missing_ok=True)
        return gone

    # -- batches ------------------------------------------------------------------------

    def batch_dir(self, batch_id: str) -> Path:
        return self.root / "batches" / batch_id

    def new_batch(
        self, input_file_id: str, endpoint: str, window: str, metadata: Any, *, owner: str = ""
    ) -> dict[str, Any]:
        now = int(time.time())
        body: dict[str, Any] = {
            "id": _id("batch_"), "object": "batch", "endpoint": endpoint, "errors": None,
            "input_file_id": input_file_id, "completion_window": window, "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
            "expires_at": now + 86_400, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": metadata,
            "_owner": owner,
        }
        with self._lock:
            self._db.execute("INSERT INTO batches(id, created_at, body) VALUES (?, ?, ?)",
                             (body["id"], now, json.dumps(body)))
        self.batch_dir(body["id"]).mkdir(parents=True, exist_ok=True)
        return body

    def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def update_batch(self, batch_id: str, **changes: Any) -> dict[str, Any]:
        """Apply ``changes`` in one transaction; a batch already cancelling stays so (only ``cancelled`` follows)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT body FROM batches WHERE id = ?", (batch_id,)).fetchone()
                body = json.loads(row[0])
                if body["status"] in ("cancelling", "cancelled") and "status" in changes \
                        and changes["status"] not in ("cancelling", "cancelled"):
                    changes = {k: v for k, v in changes.items() if k not in ("status", "completed_at")}
                body.update(changes)
                self._db.execute("UPDATE batches SET body = ? WHERE id = ?", (json.dumps(body), batch_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dict(body)

    def claim_orphans(self, owner: str, alive: Callable[[str], bool]) -> list[str]:
        """Take over unfinished batches whose owner process is gone (a gateway restarted mid-batch).

        One transaction, so of several workers starting together each orphan goes to one.
        """
        taken = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for batch_id, raw in self._db.execute("SELECT id, body FROM batches").fetchall():
                    body = json.loads(raw)
                    if body["status"] in _UNFINISHED and not alive(body.get("_owner") or ""):
                        body["_owner"] = owner
                        self._db.execute("UPDATE batches SET body = ? WHERE id = ?", (json.dumps(body), batch_id))
                        taken.append(batch_id)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return taken

    def list_batches(self, limit: int = 20, after: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        with self._lock:
            rows = self._db.execute("SELECT id, body FROM batches ORDER BY created_at DESC, id DESC").fetchall()
        ids = [r[0] for r in rows]
        start = ids.index(after) + 1 if after in ids else 0
        page = [json.loads(r[1]) for r in rows[start:start + limit]]
        return page, start + limit < len(rows)
