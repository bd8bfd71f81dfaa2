"""Circuit breakers per model endpoint, over a state backend.

The state machine is pure (`modelyard.resilience.breaker_machine`: `admit`,
`record`, `merge_successes`); this module runs it against the store.

**In-process state** (``backend: memory``): every admission and every outcome is
one atomic update of the model's record — exact, and free.

**Shared state** (Redis, several processes; `Sharing`): an atomic update is a
network round trip, and every request of every process would queue on the same
record. So a steady-state request makes none:

- *Admission while closed* reads this process's view of the shared record, re-read
  (one MGET for every model, `BreakerBoard.refresh`) once it is older than
  ``state.refresh_ms``. Staleness bound: after another process opens a breaker,
  this one keeps admitting calls to that model for at most ``refresh_ms`` plus one
  round trip; their outcomes carry the old generation and are ignored. An *open*
  breaker still cooling down refuses from the view too (nothing can close it
  before its cool-down ends).
- *Successes while closed* are counted here and added to the shared record in the
  background (write-behind, `merge_successes`), at most ``state.flush_ms`` after
  they happen, with their own times (window slot, end of a failure run).
- *Failures* are written at once, together with this process's pending successes,
  so they open the breaker as promptly as before. The failure rate they are judged
  by may miss the last ``flush_ms`` of *other* processes' successes (it can open a
  little early, never late). *Neutral* outcomes of closed calls change nothing and
  cost nothing.
- *Once the cool-down is over, and while half-open*, every admission and every
  probe's outcome is the atomic update as before, so ``half_open_probes`` holds
  across all processes.
- *The store unreachable*: a refresh or a write that fails raises
  `StateUnavailableError` (HTTP 503, as before) and marks the view stale, so the
  next admission asks the store again; with only breakers in the store, a process
  keeps answering on its view for at most ``refresh_ms`` after the store went away.

``flush_ms: 0`` writes every success at once and ``refresh_ms: 0`` re-reads on every
admission (the old behaviour, 3 round trips per request).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from modelyard.config.resilience import BreakerSettings, ResilienceSettings
from modelyard.errors import ErrorKind, UpstreamServerError
from modelyard.resilience.breaker_machine import (
    Admission,
    Outcome,
    State,
    SuccessBatch,
    Transition,
    admit,
    merge_successes,
    record,
    slot_of,
)
from modelyard.resilience.state.base import StateBackend, StateUnavailableError

__all__ = [
    "Admission",
    "Breaker",
    "BreakerBoard",
    "CircuitOpenError",
    "Outcome",
    "Sharing",
    "Transition",
    "admit",
    "record",
]

log = logging.getLogger("modelyard.resilience")

T = TypeVar("T")
Record = dict[str, Any]


class CircuitOpenError(UpstreamServerError):
    """The model's breaker is open: the call was not made. ``kind`` is ``server``, so it falls back."""

    status_code = 503

    def __init__(self, message: str, *, model: str, retry_after: float | None = None) -> None:
        super().__init__(message, model=model, provider="modelyard")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Sharing:
    """How a breaker over a store shared between processes saves round trips (module docstring).

    ``refresh_s``: the oldest view of the shared record a closed breaker admits from (seconds).
    ``flush_s``: the longest a closed breaker's success waits here before it is written
    (seconds; 0 writes each at once).
    """

    refresh_s: float
    flush_s: float


class Breaker:
    """One model's breaker over a state backend.

    ``sharing`` (None: every step is an atomic update) turns on the shared-store mode of the module
    docstring; ``refresh`` re-reads the view (the board's MGET; default: this record's own GET).
    """

    def __init__(
        self,
        model: str,
        cfg: BreakerSettings,
        state: StateBackend,
        *,
        clock: Callable[[], float] = time.time,
        on_transition: Callable[[Transition], None] | None = None,
        sharing: Sharing | None = None,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.key = f"breaker:{model}"
        self._state = state
        self._clock = clock
        self._on_transition = on_transition
        self._ttl = int(max(cfg.window_s, cfg.cooldown_s) * 4) + 60
        self.snapshot: Record | None = None
        self._sharing = sharing
        self._refresh = refresh or self._read_own
        self._seen_at = -math.inf  # time.monotonic() of the read or write that gave `snapshot`
        self._pending: SuccessBatch | None = None
        self._flusher: asyncio.Task[None] | None = None  # the write-behind timer, then its write
        self._flush_due = False  # the timer has fired: its write is running, do not cancel it
        self._closed = False

    def outcome_of(self, kind: ErrorKind | None) -> Outcome:
        if kind is None:
            return "success"
        return "failure" if kind in self.cfg.failure_on else "neutral"

    # -- the two questions -----------------------------------------------------------

    async def admit(self) -> Admission:
        if not self.cfg.enabled:
            return Admission(True, "closed", -1)
        if self._sharing is not None and (cached := await self._admit_from_view()) is not None:
            return cached
        now = self._clock()
        cfg = self.cfg
        adm, moved = await self._update(lambda old: admit(old, cfg, now))
        self._announce(moved)
        return adm

    async def record(self, outcome: Outcome, admission: Admission) -> Transition | None:
        if not self.cfg.enabled:
            return None
        now = self._clock()
        batch: SuccessBatch | None = None
        if self._sharing is not None and admission.state == "closed" and not admission.probe:
            if outcome == "neutral":
                return None  # a closed breaker ignores it (breaker_machine.record): nothing to write
            if outcome == "success" and self._sharing.flush_s > 0:
                self._count_success(admission.generation, now)
                return None
            batch = self._take_pending()  # published with this outcome, before it
        cfg = self.cfg

        def step(old: Record | None) -> tuple[Record, Transition | None]:
            merged = merge_successes(old, cfg, now, batch) if batch is not None else old
            return record(merged, cfg, now, outcome, admission.generation)

        try:
            moved = await self._update(step)
        except BaseException:
            if batch is not None:
                self._put_back(batch)
            raise
        return self._announce(moved)

    # -- shared-store mode -------------------------------------------------------------

    async def _admit_from_view(self) -> Admission | None:
        """Closed, or open and cooling down, as last seen (re-read when stale); None: ask the store."""
        assert self._sharing is not None
        if self._sharing.refresh_s <= 0:
            return None  # no staleness allowed: every admission is the atomic update
        if time.monotonic() - self._seen_at >= self._sharing.refresh_s:
            await self._refresh()
        rec = self.snapshot
        if rec is None or rec["state"] == "closed":
            return Admission(True, "closed", 0 if rec is None else rec["gen"])
        left = rec["opened_at"] + self.cfg.cooldown_s - self._clock()
        if rec["state"] == "open" and left > 0:
            return Admission(False, "open", rec["gen"], retry_in=left)
        return None

    def seen(self, rec: Record | None, read_at: float) -> None:
        """A read of the shared record sent at ``read_at`` (monotonic); kept unless a newer one is held."""
        if read_at > self._seen_at:
            self.snapshot, self._seen_at = rec, read_at

    async def _read_own(self) -> None:
        at = time.monotonic()
        (rec,) = await self._state.read_json([self.key])
        self.seen(rec, at)

    def _count_success(self, generation: int, now: float) -> None:
        assert self._sharing is not None
        pending = self._pending
        if pending is None or generation > pending.gen:
            pending = self._pending = SuccessBatch(generation)  # an older generation's batch is stale
        elif generation < pending.gen:
            return  # stale: the breaker has moved on since this call was admitted
        pending.add(slot_of(self.cfg, now), now)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flusher is None and not self._closed and self._sharing is not None:
            self._flush_due = False
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later(self._sharing.flush_s))

    def _take_pending(self) -> SuccessBatch | None:
        batch, self._pending = self._pending, None
        return batch

    def _put_back(self, batch: SuccessBatch) -> None:
        pending = self._pending
        if pending is None or batch.gen > pending.gen:
            self._pending = batch
        elif batch.gen == pending.gen:
            pending.absorb(batch)

    async def _flush_later(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self._flush_due = True
            written = await self._flush()
        finally:
            self._flusher = None
        if written and self._pending is not None:
            self._schedule_flush()  # successes that came in meanwhile (after a failed write: the next success)

    async def flush(self) -> None:
        """Write the successes counted here into the shared record now.

        Never raises for the store: when it is unreachable the successes are kept (written with
        the next flush or failure) and a warning is logged.
        """
        await self._flush()

    async def _flush(self) -> bool:
        """`flush`; False if the store could not be reached."""
        batch = self._take_pending()
        if batch is None:
            return True
        now = self._clock()
        cfg = self.cfg
        try:
            await self._update(lambda old: (merge_successes(old, cfg, now, batch), None))
        except StateUnavailableError as exc:
            self._put_back(batch)
            log.warning("breaker %s: %d success(es) not written yet: %s", self.model, batch.count, exc)
            return False
        except BaseException:
            self._put_back(batch)
            raise
        return True

    async def aclose(self) -> None:
        """Stop the write-behind timer (a write it started is waited for) and write what is pending."""
        self._closed = True
        task = self._flusher
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            if not self._flush_due:
                task.cancel()  # still sleeping: nothing of it is in flight
            await asyncio.wait([task])
        await self.flush()

    # -- the store ---------------------------------------------------------------------

    async def _update(self, step: Callable[[Record | None], tuple[Record, T]]) -> T:
        """One atomic read-modify-write of the shared record; the result becomes the view."""

        def keep(old: Record | None) -> tuple[Record, tuple[Record, T]]:
            new, out = step(old)
            return new, (new, out)

        try:
            rec, out = await self._state.update_json(self.key, keep, self._ttl)
        except StateUnavailableError:
            self._seen_at = -math.inf  # the next admission asks the store again (and fails closed)
            raise
        self.snapshot, self._seen_at = rec, time.monotonic()
        return out

    def _announce(self, moved: Transition | None) -> Transition | None:
        if moved is None:
            return None
        moved = Transition(self.model, moved.old, moved.new, moved.reason, moved.at)
        log.warning(
            "breaker %s: %s → %s (%s)",
            self.model,
            moved.old,
            moved.new,
            moved.reason,
            extra={"event": "breaker_transition", "model": self.model, "from": moved.old, "to": moved.new},
        )
        if self._on_transition is not None:
            self._on_transition(moved)
        return moved

    # -- the last known record, for routers (sync) ----------------------------------------

    @property
    def state(self) -> State:
        return "closed" if self.snapshot is None else self.snapshot["state"]  # type: ignore[no-any-return]

    def unavailable_reason(self) -> str | None:
        """From the last known record (sync, for routers): open and cooling down, or probes all taken."""
        left = self.retry_in()
        if left is None:
            return None
        rec = self.snapshot
        assert rec is not None
        if rec["state"] == "open":
            return f"circuit breaker open ({rec['reason']}); probe in {left:.1f}s"
        return "circuit breaker half-open; probe in flight"

    def retry_in(self) -> float | None:
        """Seconds until the breaker admits a call again (from the last known record); None if it does now."""
        rec = self.snapshot
        if rec is None or not self.cfg.enabled:
            return None
        now = self._clock()
        if rec["state"] == "open" and now - rec["opened_at"] < self.cfg.cooldown_s:
            return float(rec["opened_at"] + self.cfg.cooldown_s - now)
        probes_taken = rec["state"] == "half_open" and rec["probes"] >= self.cfg.half_open_probes
        if probes_taken and now - rec["since"] < self.cfg.cooldown_s:
            return float(rec["since"] + self.cfg.cooldown_s - now)  # a stuck probe is retried then
        return None


class BreakerBoard:
    """Every model's breaker, the transition log and a throttled refresh of the shared view.

    Over a store that is not in-process the breakers run in shared-store mode (module docstring)
    with ``state.refresh_ms`` and ``state.flush_ms``.
    """

    def __init__(
        self,
        settings: ResilienceSettings,
        models: Iterable[str],
        state: StateBackend,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._clock = clock
        self.transitions: Counter[tuple[str, str, str]] = Counter()
        self._refreshed = -math.inf
        self._refresh_s = settings.state.refresh_ms / 1000.0
        sharing = None if state.in_process else Sharing(self._refresh_s, settings.state.flush_ms / 1000.0)
        self.breakers = {
            m: Breaker(
                m,
                settings.breaker_for(m),
                state,
                clock=clock,
                on_transition=self._count,
                sharing=sharing,
                refresh=self.pull,
            )
            for m in models
        }
        self._pulling: asyncio.Task[None] | None = None

    def _count(self, t: Transition) -> None:
        self.transitions[(t.model, t.old, t.new)] += 1

    def __getitem__(self, model: str) -> Breaker:
        return self.breakers[model]

    async def refresh(self, *, force: bool = False) -> None:
        """Pull the shared records (one MGET) at most every ``state.refresh_ms`` (always with ``force``).

        Raises `StateUnavailableError` when the store cannot be reached (the next call tries again).
        """
        if not force and time.monotonic() - self._refreshed < self._refresh_s:
            return
        await self.pull()

    async def pull(self) -> None:
        """Pull now, or wait for the pull in flight: callers arriving together share one MGET.

        What a breaker calls when its own view is older than ``refresh_ms``.
        """
        if self._state.in_process:
            await self._read()
            return
        task = self._pulling
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = self._pulling = asyncio.get_running_loop().create_task(self._read())
            task.add_done_callback(self._pulled)
        await asyncio.shield(task)  # one caller cancelled does not cancel the others' pull

    def _pulled(self, task: asyncio.Task[None]) -> None:
        if self._pulling is task:
            self._pulling = None
        if not task.cancelled():
            task.exception()  # each waiter got it; retrieved here too, in case none is left

    async def _read(self) -> None:
        now = time.monotonic()
        self._refreshed = now
        names = list(self.breakers)
        try:
            records = await self._state.read_json([self.breakers[n].key for n in names])
        except BaseException:
            self._refreshed = -math.inf
            raise
        for name, rec in zip(names, records, strict=True):
            self.breakers[name].seen(rec, now)

    async def flush(self) -> None:
        """Write every breaker's pending successes now (shared-store mode; no-op otherwise)."""
        for breaker in self.breakers.values():
            await breaker.flush()

    async def aclose(self) -> None:
        for breaker in self.breakers.values():
            await breaker.aclose()

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}
