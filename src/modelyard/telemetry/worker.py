"""One sink behind a bounded queue and its own thread: the request path only enqueues.

``offer`` never blocks: when the queue is full the item is dropped and
counted. The thread batches (up to ``batch_size`` items or ``flush_interval``
seconds, whichever comes first) and writes; a failed write is logged (at
most once a minute) and its items counted as failed. A sink that cannot open
is retried on the next batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from modelyard.telemetry.sinks.base import Item, Sink

__all__ = ["SinkStats", "SinkWorker"]

log = logging.getLogger("modelyard.telemetry")

_STOP = object()
_LOG_EVERY_S = 60.0


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
    def __init__(self, sink: Sink, *, queue_size: int, batch_size: int, flush_interval_s: float) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self._last_logged = -_LOG_EVERY_S
        self._opened = False
        self._thread = threading.Thread(
            target=self._run, name=f"modelyard-telemetry[{sink.name}]", daemon=True
        )
        self._thread.start()

    # -- request path ----------------------------------------------------------------

    def offer(self, item: Item) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False

    # -- control -----------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything offered before now is written (or failed). False on timeout."""
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, close the sink, stop the thread (gives up after ``timeout``)."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("telemetry sink %s did not drain in %.1fs; closing anyway", self.sink.name, timeout)
            return
        self._thread.join(timeout)

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(
                self.sink.name, self._queue.qsize(), self.written, self.dropped, self.failed, self.last_error
            )

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[Item] = []
            markers: list[_Flush] = []
            deadline: float | None = None
            while len(batch) < self.batch_size:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, _Flush):
                    markers.append(item)
                    break
                batch.append(item)  # type: ignore[arg-type]
                if deadline is None:
                    deadline = time.monotonic() + self.flush_interval_s
            if batch:
                self._write(batch)
            for marker in markers:
                marker.done.set()
        self._close()

    def _write(self, batch: list[Item]) -> None:
        try:
            if not self._opened:
                self.sink.open()
                self._opened = True
            self.sink.write(batch)
        except Exception as exc:  # a sink failure must never reach a request
            with self._lock:
                self.failed += len(batch)
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
            self.sink.close()
        except Exception:
            log.exception("closing telemetry sink %s failed", self.sink.name)
