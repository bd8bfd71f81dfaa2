"""The gateway's log output: a formatter that formats the time once a second, and a handler
that writes INFO lines (the access log) in batches.

One access-log line per request went through ``logging``'s full path: a ``strftime`` per
line for ``%(asctime)s`` and a ``write`` + ``flush`` system call per line — together
about 6 % of the gateway's CPU per request (``bench/gateway_layers.py``, py-spy). Here:

- `SecondsFormatter` produces exactly what `logging.Formatter` does with its default
  time format (``2026-11-29 23:59:01,042``), formatting the date and time part only
  when the second changes;
- `BatchingStreamHandler` queues lines below WARNING and writes them together, at the
  latest ``interval_s`` (default 0.2 s) after the first one queued or once ``max_bytes``
  wait; a WARNING or worse is written at once, after what is queued, so lines keep
  their order. ``flush()`` and ``close()`` (called by `logging.shutdown` at exit)
  write what is queued. A daemon thread does the timed writes.

`modelyard serve` uses both (``modelyard.cli.serve_cmd.log_config``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

__all__ = ["BatchingStreamHandler", "SecondsFormatter"]


class SecondsFormatter(logging.Formatter):
    """`logging.Formatter`, with ``%(asctime)s`` (default format) rebuilt once per second."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._second = -1
        self._prefix = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._prefix = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._prefix},{int(record.msecs):03d}"  # logging.Formatter.default_msec_format


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A `logging.StreamHandler` that writes lines below ``immediate_level`` in batches.

    Lines reach the stream at most ``interval_s`` seconds late (or sooner, once
    ``max_bytes`` are queued); records at ``immediate_level`` or above are written at
    once, after the queued ones.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval_s: float = 0.2,
        max_bytes: int = 64 * 1024,
        immediate_level: int = logging.WARNING,
    ) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0 (got {interval_s})")
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self.immediate_level = immediate_level
        self._queued: list[str] = []
        self._size = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="modelyard-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self._queued.append(line)
            self._size += len(line)
            if record.levelno >= self.immediate_level or self._size >= self.max_bytes or self._closed:
                self._write_queued()
                return
            first = len(self._queued) == 1
        if first:
            self._wake.set()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_queued()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._closed = True
            self._write_queued()
        self._wake.set()
        super().close()

    def _write_queued(self) -> None:
        """Write and flush everything queued (the caller holds the handler's lock)."""
        if not self._queued:
            return
        text = "".join(self._queued)
        self._queued.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: like StreamHandler, never the caller's problem
            pass

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            time.sleep(self.interval_s)  # let more lines gather: one write for all of them
            self.flush()
