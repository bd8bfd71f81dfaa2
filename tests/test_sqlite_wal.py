"""Every SQLite file modelyard keeps can be opened by several openers at once (threads here; gateway
workers starting together in production) without "database is locked" (`modelyard._sqlite.enable_wal`)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard._sqlite import enable_wal
from modelyard.actions.store import SQLiteStepStore
from modelyard.batch.checkpoint import Checkpoint
from modelyard.batch.store import BatchStore
from modelyard.telemetry.sinks.sqlite import SqliteSink


def _raw(path: Path) -> Any:
    conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
    enable_wal(conn)
    return conn


def _sink(path: Path) -> Any:
    sink = SqliteSink(path / "records.db")
    sink.open()
    return sink


OPENERS: dict[str, Callable[[Path], Any]] = {
    "enable_wal": lambda d: _raw(d / "raw.db"),
    "telemetry sink": _sink,
    "batch store": BatchStore,
    "batch checkpoint": lambda d: Checkpoint(d / "run.checkpoint.sqlite"),
    "action step store": lambda d: SQLiteStepStore(d / "steps.sqlite"),
}


def _open_into(opener: Callable[[Path], Any], where: Path, opened: list[Any], errors: list[BaseException]) -> None:
    try:
        opened.append(opener(where))
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.parametrize("kind", list(OPENERS))
def test_four_openers_of_a_new_file_at_once_never_see_database_is_locked(kind: str, tmp_path: Path) -> None:
    for n in range(25):
        where = tmp_path / f"round{n}"
        where.mkdir()
        opened: list[Any] = []
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_open_into, args=(OPENERS[kind], where, opened, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for thing in opened:
            thing.close()
        assert errors == [], f"round {n}: {errors[:1]}"
        if kind == "telemetry sink":
            assert SqliteSink(where / "records.db").journal_mode() == "wal"


def test_an_error_other_than_locked_is_raised_at_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError):
        enable_wal(conn)
