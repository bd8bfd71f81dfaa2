"""The read side shared by the SQL sinks: records, one record, dashboard views, retention.

`SqliteSink` and `PostgresSink` differ only in how they connect and write; every read
goes through their `SqlStore`, and pruning through the writer's own connection.
"""

from __future__ import annotations

from typing import Any

from modelyard.telemetry.record import Record
from modelyard.telemetry.sinks.sql import SqlStore, StoreView
from modelyard.telemetry.view import Window

__all__ = ["StoreReads"]


class StoreReads:
    """Mixin: needs ``self.store`` (a `SqlStore`) and ``self._conn`` (the writer's connection, or None)."""

    store: SqlStore
    _conn: Any

    def query(self, *, since: float | None = None, limit: int | None = None) -> list[Record]:
        return self.store.query(since=since, limit=limit)

    def get(self, request_id: str) -> Record | None:
        return self.store.get(request_id)

    def read_view(
        self,
        window: Window,
        *,
        latest: int = 0,
        recent_since: float | None = None,
        family_cost: bool = False,
        span: bool = False,
    ) -> StoreView:
        return self.store.read_view(
            window, latest=latest, recent_since=recent_since, family_cost=family_cost, span=span
        )

    def prune(self, before: float) -> int:
        """Delete records older than ``before`` (epoch s) through the writer's connection; rollups stay."""
        assert self._conn is not None, "open() first"
        return self.store.prune(self._conn, before)
