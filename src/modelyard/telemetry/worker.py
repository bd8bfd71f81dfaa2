"""One sink behind a bounded buffer and its own thread: the request path only appends.

``offer`` never blocks and never wakes the thread for a single item: it
appends to a deque (dropping and counting the item when ``queue_size`` are
already waiting) and sets the wake event only once ``batch_size`` items wait.
Otherwise the thread wakes every ``flush_interval`` seconds and drains what is
there in batches of up to ``batch_size``. Waking a thread per request cost
more than the write itself (a condition notify and a GIL hand-off each time).
A failed write is logged (at most once a minute) and its items counted as
failed. A sink that cannot open is retried on the next batch.

With ``process=True`` the thread does not call the sink itself: it hands
each batch to a `ProcessWriter`, whose child process owns a copy of the sink
built from its ``writer_spec()`` (open, write, prune and close run there),
and waits for the child's answer — so ``flush`` still means "written", and
``offer``, ``flush``, ``close``, ``pending`` and ``stats`` behave the same.
The worker's ``sink`` stays the object it was given (for reading back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from modelyard.telemetry.sinks.base import Item, Sink
from modelyard.telemetry.writer_process import ProcessWriter, SinkProcessError, writer_spec

__all__ = ["SinkStats", "SinkWorker"]

log = logging.getLogger("modelyard.telemetry")

_LOG_EVERY_S = 60.0
#: a backlog is written in batches of up to this many times ``batch_size`` (see `SinkWorker._drain_one`)
_BACKLOG_BATCHES = 25


@dataclass
class SinkStats:
    sink: str
    queued: int
    written: int
    dropped: int
    failed: int
    last_error: str | None


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class SinkWorker:
    def __init__(
        self,
        sink: Sink,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval_s: float,
        retention_s: float | None = None,
        prune_every_s: float = 300.0,
        process: bool = False,
    ) -> None:
        self.sink = sink
        #: the process writing for this sink (``process=True``), else None: the thread calls the sink
        self.writer: ProcessWriter | None = None
        self._target: Sink = sink
        if process:
            spec = writer_spec(sink)
            if spec is None:
                raise ValueError(f"telemetry sink {sink.name} cannot be written from a process (no writer_spec)")
            self.writer = self._target = ProcessWriter(spec, name=sink.name)
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._next_prune = 0.0
        self.pruned = 0
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._items: deque[Item | _Flush] = deque()
        self._waiting = 0  # items (not flush markers) in ``_items``
        self._wake = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self._last_logged = -_LOG_EVERY_S
        self._opened = False
        self._thread = threading.Thread(target=self._run, name=f"modelyard-telemetry[{sink.name}]", daemon=True)
        self._thread.start()

    # -- request path ----------------------------------------------------------------

    def offer(self, item: Item) -> bool:
        with self._lock:
            if self._waiting >= self.queue_size:
                self.dropped += 1
                return False
            self._items.append(item)
            self._waiting += 1
            full = self._waiting >= self.batch_size
        if full:
            self._wake.set()
        return True

    # -- control -----------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything offered before now is written (or failed). False on timeout."""
        if not self._thread.is_alive():
            return False
        marker = _Flush()
        with self._lock:
            self._items.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, close the sink, stop the thread (gives up after ``timeout``)."""
        if not self._thread.is_alive():
            return
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("telemetry sink %s did not drain in %.1fs; closing anyway", self.sink.name, timeout)
            if self.writer is not None:  # the batch in the child fails, later ones are refused: the thread ends
                self.writer.kill()
                self._thread.join(1.0)

    def stop(self) -> None:
        """Like `close` without waiting: the thread drains, closes the sink (and its process) and ends."""
        self._stop = True
        self._wake.set()

    @property
    def mode(self) -> str:
        """``process`` when a child process writes for this sink, else ``thread``."""
        return "thread" if self.writer is None else "process"

    def pending(self) -> list[Item]:
        """A copy of what waits in the queue (not the batch being written)."""
        with self._lock:
            return [i for i in self._items if not isinstance(i, _Flush)]

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(self.sink.name, self._waiting, self.written, self.dropped, self.failed, self.last_error)

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stop = self._stop  # read before draining: what was offered before close is written
            while self._drain_one():
                pass
            if stop:
                break
            self._maybe_prune()
        self._close()

    def _maybe_prune(self) -> None:
        """Every ``prune_every_s``, delete records older than ``retention_s`` (sinks that can)."""
        prune = getattr(self._target, "prune", None) if hasattr(self.sink, "prune") else None
        if self.retention_s is None or prune is None or not self._opened:
            return
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self.prune_every_s
        try:
            self.pruned += int(prune(time.time() - self.retention_s))
        except Exception as exc:  # like a failed write: logged, never raised
            log.error("telemetry sink %s: pruning failed: %s", self.sink.name, exc)

    def _drain_one(self) -> bool:
        """Write one batch (up to a flush marker). False when empty.

        A batch is ``batch_size`` items, or everything waiting up to ``_BACKLOG_BATCHES`` times that
        when a backlog has built up (issue 14): behind a busy event loop this thread waits a switch
        interval for the GIL after each database call, so its rate is set by calls per batch — a
        backlog must make batches bigger, not more numerous.
        """
        batch: list[Item] = []
        marker: _Flush | None = None
        with self._lock:
            items = self._items
            limit = max(self.batch_size, min(self._waiting, self.batch_size * _BACKLOG_BATCHES))
            while items and len(batch) < limit:
                item = items.popleft()
                if isinstance(item, _Flush):
                    marker = item
                    break
                batch.append(item)
            self._waiting -= len(batch)
        if batch:
            self._write(batch)
        if marker is not None:
            marker.done.set()
        return bool(batch) or marker is not None

    def _write(self, batch: list[Item]) -> None:
        try:
            if not self._opened:
                self._target.open()
                self._opened = True
            self._target.write(batch)
        except Exception as exc:  # a sink failure must never reach a request
            with self._lock:
                self.failed += len(batch)
                if isinstance(exc, SinkProcessError):  # the child's error already reads "Type: message"
                    self.last_error = str(exc)[:400]
                else:
                    self.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            now = time.monotonic()
            if now - self._last_logged >= _LOG_EVERY_S:
                self._last_logged = now
                log.error("telemetry sink %s failed (%d items lost): %s", self.sink.name, len(batch), exc)
            return
        with self._lock:
            self.written += len(batch)

    def _close(self) -> None:
        if not self._opened:
            return
        try:
            self._target.close()
        except Exception:
            log.exception("closing telemetry sink %s failed", self.sink.name)
