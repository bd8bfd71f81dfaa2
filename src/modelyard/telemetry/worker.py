"""One sink behind a bounded buffer and its own thread: the request path only appends.

``offer`` never blocks and never wakes the thread for a single item: it
appends to a deque (dropping and counting the item when ``queue_size`` are
already waiting) and sets the wake event only once ``batch_size`` items wait.
Otherwise the thread wakes every ``flush_interval`` seconds and drains what is
there in batches of up to ``batch_size``. Of what arrives while it writes, it
goes on with full batches only (or up to a flush marker); a remainder waits
for the next wake-up: a batch of one or two records per transaction costs
more than the writes. A failed write is logged (at most once a minute) and
its items counted as failed. A sink that cannot open is retried on the next
batch.

**Process mode** (``process=True``, see `ProcessWriter`): a child process
owns a copy of the sink built from its ``writer_spec()`` — open, write,
prune and close run there — and the gateway only sends it encoded batches.
``offer`` encodes the item (~3 µs a record, while it holds the GIL anyway)
and, once a batch is full and the child has answered the one before (one
batch out at a time, as in thread mode: the queue stays the only buffer),
sends it itself without blocking (one ``writev`` into a 1 MiB pipe) and
collects the child's answers (a non-blocking read, at most every
millisecond while a batch is out): a thread
behind a busy event loop can wait a long time for the GIL (0.4–0.6 s seen),
so the steady flow must not depend on this thread getting it. The thread
does what may block: start (and restart) the child, send partial batches on
its timer, flush markers, prune, close. ``flush`` still means "written" (the
child's answer came), and ``offer``, ``flush``, ``close``, ``pending`` and
``stats`` mean the same in both modes. The worker's ``sink`` stays the
object it was given (for reading back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from modelyard.telemetry.sinks.base import Item, Sink
from modelyard.telemetry.wire import PRUNE, WRITE, encode_item
from modelyard.telemetry.writer_process import Answer, ProcessWriter, writer_spec

__all__ = ["SinkStats", "SinkWorker"]

log = logging.getLogger("modelyard.telemetry")

_LOG_EVERY_S = 60.0
#: a backlog is written in batches of up to this many times ``batch_size`` (see `SinkWorker._take`)
_BACKLOG_BATCHES = 25
#: process mode: ``offer`` reads the child's answers at most this often (a system call each time)
_POLL_EVERY_S = 0.001


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


@dataclass(eq=False)
class _Batch:
    """Process mode: a batch sent to the child, and the flush markers waiting for its answer."""

    count: int
    markers: list[_Flush] = field(default_factory=list)
    answered: bool = False


@dataclass(eq=False)
class _Prune:
    """Process mode: a prune request sent to the child."""

    answered: bool = False


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
        #: the child process writing for this sink (``process=True``), else None: the thread calls the sink
        self.writer: ProcessWriter | None = None
        if process:
            spec = writer_spec(sink)
            if spec is None:
                raise ValueError(f"telemetry sink {sink.name} cannot be written from a process (no writer_spec)")
            self.writer = ProcessWriter(spec, name=sink.name)
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._next_prune = 0.0
        self.pruned = 0
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._items: deque[Item | _Flush] = deque()
        self._wire: deque[bytes] = deque()  # process mode: each item of ``_items`` encoded, in the same order
        self._waiting = 0  # items (not flush markers) in ``_items``
        self._flushes = 0  # flush markers in ``_items``
        self._offered = 0  # items ever queued
        self._taken = 0  # items ever taken to be written
        self._wake = threading.Event()
        self._stop = False
        self._lock = threading.Lock()  # the queue and the counters
        self._io = threading.Lock()  # process mode: the pipes (``offer`` only ever tries it)
        self._last_sent: _Batch | None = None
        self._marks = 0  # flush markers waiting for a batch in flight
        self._polled = 0.0  # when ``offer`` last read the child's answers
        self._sent_at = -1e9  # when a batch was last sent
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self._last_logged = -_LOG_EVERY_S
        self._opened = False
        run = self._run if self.writer is None else self._run_process
        self._thread = threading.Thread(target=run, name=f"modelyard-telemetry[{sink.name}]", daemon=True)
        self._thread.start()

    # -- request path ----------------------------------------------------------------

    def offer(self, item: Item, wire: bytes | None = None) -> bool:
        """Queue ``item`` (False: dropped, the queue is full). ``wire``: the item already encoded
        (`encode_item`), for a hub feeding several process-mode sinks; ignored in thread mode."""
        writer = self.writer
        if writer is not None and wire is None:
            wire = encode_item(item)
        with self._lock:
            if self._waiting >= self.queue_size:
                self.dropped += 1
                return False
            self._items.append(item)
            if writer is not None and wire is not None:
                self._wire.append(wire)
            self._waiting += 1
            self._offered += 1
            full = self._waiting >= self.batch_size
        if writer is None:
            if full:
                self._wake.set()
            return True
        now = time.monotonic()
        if not full and not (writer.in_flight and now - self._polled >= _POLL_EVERY_S):
            return True
        if not self._io.acquire(blocking=False):  # the thread is at the pipes: it goes on with full batches
            if full:
                self._wake.set()
            return True
        try:  # never blocks: the pipe takes the frame now, or the rest waits for the next call
            self._polled = now
            self._settle(writer.poll())
            if full and writer.ready and not writer.in_flight:
                self._send()
            elif full and not writer.ready:
                self._wake.set()  # no child yet, or it died: the thread starts one
        finally:
            self._io.release()
        return True

    # -- control -----------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything offered before now is written (or failed). False on timeout."""
        if not self._thread.is_alive():
            return False
        marker = _Flush()
        with self._lock:
            self._items.append(marker)
            self._flushes += 1
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
            if self.writer is not None:  # what the child holds fails, nothing more is sent: the thread ends
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
        writer = self.writer
        if writer is not None and writer.in_flight and self._io.acquire(blocking=False):
            try:  # answers that came since the last offer
                self._settle(writer.poll())
            finally:
                self._io.release()
        with self._lock:
            return SinkStats(self.sink.name, self._waiting, self.written, self.dropped, self.failed, self.last_error)

    # -- the queue ------------------------------------------------------------------------

    def _take(self) -> tuple[list[Item], list[bytes], _Flush | None]:
        """The next batch (up to a flush marker) with its encodings (process mode), and the marker.

        A batch is ``batch_size`` items, or everything waiting up to ``_BACKLOG_BATCHES`` times that
        when a backlog has built up (issue 14): a writer that waits for the GIL after each call must
        meet a backlog with bigger batches, not more of them.
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
                    self._flushes -= 1
                    break
                batch.append(item)
            wires = [self._wire.popleft() for _ in batch] if self.writer is not None else []
            self._waiting -= len(batch)
            self._taken += len(batch)
        return batch, wires, marker

    def _more(self, stop: bool, end: int) -> bool:
        """Go on writing: closing, items that waited at the wake-up, a flush marker, or a full batch."""
        return stop or self._taken < end or bool(self._flushes) or self._waiting >= self.batch_size

    def _count(self, n: int, error: str | None) -> None:
        """``n`` items written, or failed with ``error`` (logged at most once a minute)."""
        with self._lock:
            if error is None:
                self.written += n
                return
            self.failed += n
            self.last_error = error[:400]
        now = time.monotonic()
        if now - self._last_logged >= _LOG_EVERY_S:
            self._last_logged = now
            log.error("telemetry sink %s failed (%d items lost): %s", self.sink.name, n, error)

    # -- the thread, thread mode ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stop = self._stop  # read before draining: what was offered before close is written
            end = self._offered  # what waits now is written now; of what comes meanwhile, full batches
            while self._drain_one() and self._more(stop, end):
                pass
            if stop:
                break
            self._maybe_prune()
        self._close()

    def _maybe_prune(self) -> None:
        """Every ``prune_every_s``, delete records older than ``retention_s`` (sinks that can)."""
        prune = getattr(self.sink, "prune", None)
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
        """Write one batch (up to a flush marker). False when empty."""
        batch, _, marker = self._take()
        if batch:
            self._write(batch)
        if marker is not None:
            marker.done.set()
        return bool(batch) or marker is not None

    def _write(self, batch: list[Item]) -> None:
        try:
            if not self._opened:
                self.sink.open()
                self._opened = True
            self.sink.write(batch)
        except Exception as exc:  # a sink failure must never reach a request
            self._count(len(batch), f"{type(exc).__name__}: {str(exc)[:300]}")
            return
        self._count(len(batch), None)

    def _close(self) -> None:
        if not self._opened:
            return
        try:
            self.sink.close()
        except Exception:
            log.exception("closing telemetry sink %s failed", self.sink.name)

    # -- the thread, process mode ---------------------------------------------------------
    #
    # This thread must not hold ``_io`` while it may wait for the GIL, or ``offer`` could not send: it
    # waits for the pipes without the lock (`ProcessWriter.wait_io`) and takes it for non-blocking steps
    # only (and to start the child, when nothing could be sent anyway). While ``offer`` has sent a batch
    # within the last flush interval, a partial batch is left to it: under load the thread stays out.

    def _run_process(self) -> None:
        writer = self.writer
        assert writer is not None
        try:
            self._process_loop(writer)
        except BaseException:  # a bug here must not leave the child behind
            writer.kill()
            with self._io:
                writer.close()
            raise
        with self._io:
            self._settle(writer.close())

    def _process_loop(self, writer: ProcessWriter) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stop = self._stop
            end = self._offered
            while self._mine(stop, end) and self._step(writer):
                pass
            while (stop or self._marks) and writer.in_flight:  # a flush waits, or we close: the answers first
                self._await(writer)
            if stop:
                return
            self._prune_in_child(writer)

    def _mine(self, stop: bool, end: int) -> bool:
        """Thread: something to send (`_more`), and not what ``offer`` will send anyway: it is closing,
        a flush waits, no child runs, or ``offer`` has sent nothing for a flush interval."""
        if not self._more(stop, end):
            return False
        idle = time.monotonic() - self._sent_at >= self.flush_interval_s
        return stop or bool(self._flushes) or idle or not (self.writer is not None and self.writer.ready)

    def _step(self, writer: ProcessWriter) -> bool:
        """Thread: send one batch when the child is free (starting one if need be), else wait for its
        answer. False when nothing waits."""
        with self._io:
            self._settle(writer.check())  # a child that died between batches is replaced before, not after
            if not writer.ready:
                try:
                    self._settle(writer.start())
                    self._opened = True
                except Exception as exc:  # like a sink that cannot open: this batch fails, the next one retries
                    batch, _, marker = self._take()
                    if batch:
                        self._count(len(batch), str(exc) or type(exc).__name__)
                    if marker is not None:
                        self._mark(marker)
                    return bool(batch) or marker is not None
            if not writer.in_flight:
                return self._send()
        self._await(writer)
        return True

    def _await(self, writer: ProcessWriter) -> None:
        """Thread: wait (without ``_io``) until the child answers or can take more, then collect."""
        writer.wait_io(self.flush_interval_s)
        with self._io:
            self._settle(writer.poll(block=True))

    def _send(self) -> bool:
        """Send the next batch to a ready, free child (``_io`` held); False when nothing waits."""
        writer = self.writer
        assert writer is not None
        batch, wires, marker = self._take()
        if batch:
            self._last_sent = ticket = _Batch(len(batch))
            self._sent_at = time.monotonic()
            self._settle(writer.send(WRITE, b"".join(wires), ticket))
        if marker is not None:
            self._mark(marker)
        return bool(batch) or marker is not None

    def _mark(self, marker: _Flush) -> None:
        """A flush marker is done when the last batch sent before it is answered."""
        last = self._last_sent
        if last is not None and not last.answered:
            last.markers.append(marker)
            self._marks += 1
        else:
            marker.done.set()

    def _settle(self, answers: list[Answer]) -> None:
        """Count the child's answers (``_io`` held): batches written or failed, their flush markers."""
        for ticket, ok, text in answers:
            if isinstance(ticket, _Batch):
                ticket.answered = True
                self._count(ticket.count, None if ok else text)
                for marker in ticket.markers:
                    marker.done.set()
                self._marks -= len(ticket.markers)
            elif isinstance(ticket, _Prune):
                ticket.answered = True
                if ok:
                    self.pruned += int(text or 0)
                else:
                    log.error("telemetry sink %s: pruning failed: %s", self.sink.name, text)
            elif not ok:  # the child failed to close its sink, or had to be killed
                log.error("closing telemetry sink %s: %s", self.sink.name, text)
        if answers and self.writer is not None and not self.writer.ready:
            self._wake.set()  # it died: the thread starts another for what waits

    def _prune_in_child(self, writer: ProcessWriter) -> None:
        """Every ``prune_every_s``, have the child delete records older than ``retention_s``."""
        if self.retention_s is None or not hasattr(self.sink, "prune"):
            return
        now = time.monotonic()
        if now < self._next_prune:
            return
        ticket = _Prune()
        with self._io:
            if not writer.ready or writer.in_flight:
                return  # not now: at the next wake-up
            self._next_prune = now + self.prune_every_s
            self._settle(writer.send(PRUNE, repr(time.time() - self.retention_s).encode(), ticket))
        while not ticket.answered and writer.in_flight:
            self._await(writer)
