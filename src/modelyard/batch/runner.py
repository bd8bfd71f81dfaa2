"""`BatchRunner`: the coordinator of a batch run — checkpoint, budget, dispatch, progress.

One loop, one writer. It fills the backend up to its capacity, holding each
item's worst case from the run budget and claiming it in the checkpoint (one
transaction per chunk) before it is sent; as chunks finish it records results
and costs (one transaction per group of finished chunks) and settles the
holds. When the next item no longer fits the budget even with nothing in
flight, the run stops (``on_budget="stop"``: the rest is skipped, with a reason
in the error file) or switches every remaining item to a cheaper route
(``on_budget="downgrade"``, ``downgrade_to``) and stops only when that no
longer fits either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modelyard.batch.backends.base import BackendLostError, BatchBackend
from modelyard.batch.budget import Fit, RunBudget
from modelyard.batch.checkpoint import Checkpoint, from_nano, to_nano
from modelyard.batch.dispatch import ENDPOINTS, ItemOutcome, ItemWork
from modelyard.batch.format import BatchItem
from modelyard.batch.reserve import Reserver

__all__ = ["BatchRunner", "RunOptions", "RunStats"]

log = logging.getLogger("modelyard.batch")


@dataclass(slots=True)
class RunOptions:
    """How a run spends: ``budget_usd`` caps the whole run (every run of the same checkpoint)."""

    budget_usd: float | None = None
    on_budget: Literal["stop", "downgrade"] = "stop"
    downgrade_to: str | None = None
    retry_failed: bool = False

    def __post_init__(self) -> None:
        if self.on_budget == "downgrade" and not self.downgrade_to:
            raise ValueError("on_budget='downgrade' needs downgrade_to (a cheaper model or router)")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise ValueError("budget_usd must be >= 0")


@dataclass(slots=True)
class RunStats:
    """Live figures of a run; ``*_before`` are from earlier runs of the same checkpoint."""

    total: int
    to_run: int
    done_before: int = 0
    failed_before: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    downgraded: int = 0
    resent_after_crash: int = 0
    spent_usd: float = 0.0
    spent_this_run_usd: float = 0.0
    lost_usd: float = 0.0
    budget_usd: float | None = None
    stopped: str | None = None  # why the run stopped early (budget, cancelled)
    backend: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def finished_this_run(self) -> int:
        return self.done + self.failed

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Items finished per second in this run."""
        return self.finished_this_run / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.to_run - self.finished_this_run - self.skipped)

    @property
    def eta_s(self) -> float | None:
        return self.remaining / self.rate if self.rate > 0 else None

    @property
    def projected_usd(self) -> float:
        """Spend so far plus this run's average cost per item for each item left."""
        n = self.finished_this_run
        per_item = self.spent_this_run_usd / n if n else 0.0
        return self.spent_usd + per_item * self.remaining


class BatchRunner:
    """Run ``items`` with ``backend``, recording into ``checkpoint``; ``on_progress`` gets the live stats."""

    def __init__(
        self,
        backend: BatchBackend,
        checkpoint: Checkpoint,
        reserver: Reserver,
        options: RunOptions | None = None,
        *,
        on_progress: Callable[[RunStats], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        self.backend = backend
        self.checkpoint = checkpoint
        self.reserver = reserver
        self.options = options or RunOptions()
        self.on_progress = on_progress
        self.cancel = cancel or asyncio.Event()
        if self.options.downgrade_to is not None:
            config = reserver.config
            if self.options.downgrade_to not in config.models and self.options.downgrade_to not in config.routers:
                raise ValueError(f"downgrade_to {self.options.downgrade_to!r} is not a model or router of the config")

    async def run(self, items: list[BatchItem], digest: str) -> RunStats:
        by_id = {item.custom_id: item for item in items}
        await self.backend.start()
        before = self.checkpoint.totals()
        interrupted_before = before.interrupted
        queue = deque(self.checkpoint.prepare(items, digest, retry_failed=self.options.retry_failed))
        totals = self.checkpoint.totals()
        budget = RunBudget.of(self.options.budget_usd, spent_nano=totals.spent_nano, lost_nano=totals.lost_nano)
        stats = RunStats(
            total=totals.total, to_run=len(queue), done_before=totals.done, failed_before=totals.failed,
            resent_after_crash=totals.interrupted - interrupted_before, spent_usd=budget.spent_usd,
            lost_usd=budget.lost_usd, budget_usd=self.options.budget_usd, backend=self.backend.describe(),
        )
        inflight: dict[asyncio.Task[list[ItemOutcome]], list[tuple[ItemWork, int]]] = {}
        route: str | None = None
        try:
            while queue or inflight:
                if not self.cancel.is_set() and stats.stopped is None:
                    route = self._fill(queue, by_id, budget, stats, inflight, route)
                if not inflight:
                    break
                done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                self._finish(done, inflight, budget, stats, queue)
                self._report(stats)
            if self.cancel.is_set() and queue:
                stats.stopped = stats.stopped or "cancelled"
                self.checkpoint.skip(queue, "batch_cancelled", "the batch was cancelled before this item started")
                stats.skipped += len(queue)
                queue.clear()
        finally:
            for task in inflight:  # cancelled from outside: the rows stay 'running' and re-run next time
                task.cancel()
            stats.finished = time.monotonic()
            self._report(stats)
        return stats

    # -- the two halves of the loop ------------------------------------------------------

    def _fill(
        self,
        queue: deque[str],
        by_id: dict[str, BatchItem],
        budget: RunBudget,
        stats: RunStats,
        inflight: dict[asyncio.Task[list[ItemOutcome]], list[tuple[ItemWork, int]]],
        route: str | None,
    ) -> str | None:
        """Start chunks until the backend is full or the budget says wait; returns the route in force."""
        backend = self.backend
        started: list[list[tuple[ItemWork, int]]] = []
        while queue and stats.in_flight < backend.capacity:
            chunk: list[tuple[ItemWork, int]] = []
            room = min(backend.chunk_size, backend.capacity - stats.in_flight)
            wait = False
            while queue and len(chunk) < room:
                item = by_id[queue[0]]
                hold = to_nano(self.reserver.hold(ENDPOINTS[item.url].kind, item.body, route))
                fit = budget.fits(hold)
                if fit == Fit.NEVER and route is None and self.options.on_budget == "downgrade":
                    route = self.options.downgrade_to
                    log.warning("budget: switching the remaining %d items to %r", len(queue), route)
                    continue
                if fit == Fit.NEVER:
                    if not inflight and not chunk:
                        self._stop_for_budget(queue, budget, hold, stats)
                    wait = True
                    break
                if fit == Fit.LATER:
                    wait = True
                    break
                budget.hold(hold)
                queue.popleft()
                chunk.append((ItemWork(item.custom_id, item.url, item.body, from_nano(hold) if budget.cap_nano
                                       is not None else None, route), hold))
            if chunk:
                started.append(chunk)
                stats.in_flight += len(chunk)
                stats.downgraded += sum(1 for w, _ in chunk if w.route is not None)
            if wait or not chunk:
                break
        if started:  # one transaction claims every chunk of this pass, before any is sent
            self.checkpoint.claim(pair for chunk in started for pair in chunk)
            for chunk in started:
                inflight[asyncio.create_task(backend.run([w for w, _ in chunk]))] = chunk
        return route

    def _stop_for_budget(self, queue: deque[str], budget: RunBudget, hold: int, stats: RunStats) -> None:
        left = (budget.cap_nano or 0) - budget.spent_nano - budget.lost_nano
        message = (
            f"run budget ${budget.cap_usd:.6f} reached: ${from_nano(max(left, 0)):.6f} left, "
            f"less than one item's hold ${from_nano(hold):.6f}"
        )
        stats.stopped = "budget"
        log.warning("%s; %d item(s) not started", message, len(queue))
        self.checkpoint.skip(queue, "budget_exhausted", message)
        stats.skipped += len(queue)
        queue.clear()

    def _finish(
        self,
        done: set[asyncio.Task[list[ItemOutcome]]],
        inflight: dict[asyncio.Task[list[ItemOutcome]], list[tuple[ItemWork, int]]],
        budget: RunBudget,
        stats: RunStats,
        queue: deque[str],
    ) -> None:
        outcomes: list[ItemOutcome] = []
        holds: dict[str, int] = {}
        for task in done:
            chunk = inflight.pop(task)
            stats.in_flight -= len(chunk)
            try:
                results = task.result()
            except BackendLostError as exc:  # outcome unknown: count the holds as spent, run them again
                log.warning("a worker was lost (%s); %d item(s) run again", exc, len(chunk))
                self.checkpoint.release([w.custom_id for w, _ in chunk], lost=True)
                for w, hold in chunk:
                    budget.lose(hold)
                    queue.appendleft(w.custom_id)
                stats.lost_usd = budget.lost_usd
                continue
            outcomes.extend(results)
            holds.update((w.custom_id, hold) for w, hold in chunk)
        if not outcomes:
            return
        self.checkpoint.complete(outcomes)  # results and costs: one transaction
        for o in outcomes:
            cost = to_nano(o.cost_usd)
            budget.settle(holds[o.custom_id], cost, custom_id=o.custom_id)
            stats.spent_this_run_usd += o.cost_usd
            if o.ok:
                stats.done += 1
            else:
                stats.failed += 1
        stats.spent_usd = budget.spent_usd

    def _report(self, stats: RunStats) -> None:
        if self.on_progress is not None:
            self.on_progress(stats)


def default_paths(out: Path) -> tuple[Path, Path]:
    """(error file, checkpoint) beside ``out``: ``x.jsonl`` → ``x.errors.jsonl``, ``x.checkpoint.sqlite``."""
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(f"{stem}.errors.jsonl"), out.with_name(f"{stem}.checkpoint.sqlite")
