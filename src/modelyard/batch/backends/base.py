"""The `BatchBackend` seam: where a run's items execute.

The runner (the coordinator) owns the checkpoint and the budget; a backend only
runs chunks of `ItemWork` on engines and hands back `ItemOutcome`s. It never
writes state, so any number of workers keep accounting exact.
"""

from __future__ import annotations

from typing import Protocol

from modelyard.batch.dispatch import ItemOutcome, ItemWork

__all__ = ["BackendLostError", "BatchBackend"]


class BackendLostError(Exception):
    """A chunk's outcome is unknown (a worker died mid-chunk); its items are run again."""


class BatchBackend(Protocol):
    #: items in flight at most (the overall concurrency cap)
    capacity: int
    #: items per `run` call (1 locally; larger on Ray to amortise the round trip)
    chunk_size: int

    async def start(self) -> None: ...

    async def run(self, works: list[ItemWork]) -> list[ItemOutcome]:
        """One outcome per work item, in order; raise `BackendLostError` when they are unknown."""
        ...

    async def aclose(self) -> None: ...

    def describe(self) -> str: ...
