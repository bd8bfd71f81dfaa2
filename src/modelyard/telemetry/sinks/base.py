"""The sink seam: where records go, and (for databases) where they are read back.

A `Sink` is driven by one worker thread of the hub: ``open`` once in that
thread, ``write`` batches of records and feedback, ``close`` at shutdown. It
may block or raise; the hub counts failures and drops, the request never
notices. A `RecordStore` can also be queried (reports, dashboard, re-training).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from modelyard.telemetry.record import Feedback, Record

if TYPE_CHECKING:
    from modelyard.telemetry.sinks.sql import StoreView
    from modelyard.telemetry.view import Window

__all__ = ["SINK_PACKAGE", "Item", "RecordStore", "Sink", "ViewStore", "writer_class"]

Item = Record | Feedback

#: A writer process builds only sink classes defined under this package.
SINK_PACKAGE = "modelyard.telemetry.sinks."


def writer_class(cls: type) -> str:
    """``module:Class`` of a sink class, as its ``writer_spec()`` names it for a writer process.

    The process imports that class and calls its ``from_writer_spec``, so the sink kinds are
    named once, in `modelyard.telemetry.sinks.create_sink` — not again in the writer process.
    """
    return f"{cls.__module__}:{cls.__qualname__}"


class Sink(Protocol):
    name: str

    def open(self) -> None: ...

    def write(self, items: Sequence[Item]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class RecordStore(Protocol):
    """Records with their feedback joined, oldest first."""

    def query(self, *, since: float | None = None, limit: int | None = None) -> list[Record]: ...

    def get(self, request_id: str) -> Record | None: ...


@runtime_checkable
class ViewStore(Protocol):
    """A store that keeps rollups: windows are read as aggregates (see `SqlStore.read_view`)."""

    name: str

    def read_view(
        self,
        window: Window,
        *,
        latest: int = 0,
        recent_since: float | None = None,
        family_cost: bool = False,
        span: bool = False,
    ) -> StoreView: ...

    def prune(self, before: float) -> int: ...
