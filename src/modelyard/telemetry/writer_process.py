"""`ProcessWriter`: a sink written from its own process, driven by the sink's writer thread.

In the gateway process a SQL sink's writer thread competes with the event
loop for the GIL: every database call releases it, and getting it back behind
a busy loop costs up to a switch interval (5 ms), so the thread spends ~120 µs
per record there against ~35 µs alone, and slows the loop down while it does.
A `ProcessWriter` has the same ``open`` / ``write`` / ``prune`` / ``close``
as a sink, but sends each batch down a pipe to a child process
(``python -m modelyard.telemetry.writer_child``) that owns the real sink and
waits for its answer — so the thread holds the GIL only to encode the batch
(~3 µs per record) and blocks in two pipe calls per batch.

- The child is started on the first ``open``/``write`` (never in the
  constructor) with ``subprocess`` (fork + exec: nothing of the gateway's
  threads or its ``__main__`` is carried over) and builds the sink from a
  `Spec` sent in its first frame, not from its command line or environment.
- A child that dies (killed, crashed) fails the batch it was writing with
  `SinkProcessError`; the next ``write`` starts a new child.
- ``close`` sends ``C`` and waits up to ``close_timeout`` for the child to
  close its sink and exit, then kills it; ``kill`` kills it at once and
  refuses later writes. Either way the child is reaped. A child also exits
  when its stdin closes, so it never outlives the gateway.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from modelyard.telemetry.sinks.base import Item
from modelyard.telemetry.wire import CLOSE, DONE, OPEN, PRUNE, WRITE, Spec, encode_items, read_frame, write_frame

__all__ = ["ProcessWriter", "SinkProcessError", "writer_spec"]

CHILD_MODULE = "modelyard.telemetry.writer_child"


def writer_spec(sink: object) -> Spec | None:
    """What a writer process needs to build a copy of ``sink`` (its ``writer_spec()``); None if it cannot."""
    spec = getattr(sink, "writer_spec", None)
    return spec() if callable(spec) else None


class SinkProcessError(Exception):
    """The writer process failed a request (its error text) or died while answering it."""


class ProcessWriter:
    """The `Sink` methods of ``name``'s sink, carried out by a child process built from ``spec``."""

    def __init__(self, spec: Spec, *, name: str, close_timeout: float = 5.0) -> None:
        self.name = name
        self._spec = spec  # may hold a DSN: never logged, never in a repr
        self.close_timeout = close_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._lock = threading.Lock()  # one request at a time; `kill` may come from another thread
        self.started = 0  # children started so far

    @property
    def pid(self) -> int | None:
        """The running child's process id, if one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- the Sink methods ---------------------------------------------------------------

    def open(self) -> None:
        """Start the child and have it open the sink (migrations run there). Raises on failure."""
        with self._lock:
            self._ensure()

    def write(self, items: Sequence[Item]) -> None:
        """Send ``items`` and wait until the child has written them. Raises `SinkProcessError`."""
        payload = encode_items(items)
        with self._lock:
            self._request(WRITE, payload, doing=f"writing {len(items)} items")

    def prune(self, before: float) -> int:
        """Records deleted by the child's sink older than ``before``; 0 when no child runs."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                return 0
            return int(self._request(PRUNE, repr(before).encode(), doing="pruning") or b"0")

    def close(self) -> None:
        """Let the child close its sink and exit; kill it after ``close_timeout``. Raises if closing failed."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
            if proc is None:
                return
            error = _finish(proc, self.close_timeout)
        if error:
            raise SinkProcessError(error)

    def kill(self) -> None:
        """Kill the child now (a write it is in fails) and refuse every later request."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    # -- the child -------------------------------------------------------------------------

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._closed:
            raise SinkProcessError(f"the writer process of {self.name} is closed")
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:  # it died between batches: reap it, start another
            _finish(proc, 0.0)
        self._proc = proc = _spawn()
        self.started += 1
        self._request(OPEN, json.dumps(self._spec).encode(), doing="opening the sink")
        return proc

    def _request(self, op: bytes, payload: bytes, *, doing: str) -> bytes:
        proc = self._ensure() if op != OPEN else self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            write_frame(proc.stdin, op, payload)
            answer = read_frame(proc.stdout)
        except OSError:
            answer = None
        if answer is None:  # the child is gone: reap it; the next request starts a new one
            self._proc = None
            code = _finish(proc, 1.0, kill=True) or f"exit code {proc.returncode}"
            raise SinkProcessError(f"the writer process of {self.name} died while {doing} ({code})")
        status, text = answer
        if status != DONE:
            if op == OPEN:  # the sink cannot open: this child is of no use
                self._proc = None
                _finish(proc, self.close_timeout)
            raise SinkProcessError(text.decode(errors="replace"))
        return text

    def __repr__(self) -> str:
        return f"ProcessWriter({self.name!r}, pid={self.pid})"


def _spawn() -> subprocess.Popen[bytes]:
    """``python -m modelyard.telemetry.writer_child`` importing the same ``modelyard`` as this process."""
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[2])  # the directory holding the ``modelyard`` package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        close_fds=True,
    )


def _finish(proc: subprocess.Popen[bytes], timeout: float, *, kill: bool = False) -> str | None:
    """Close our end of the pipe (the child ends on EOF or ``C``), wait ``timeout``, kill, reap.

    Returns an error text when the child reported one while closing, or how it ended if not cleanly.
    """
    stdin, stdout = proc.stdin, proc.stdout
    if kill and proc.poll() is None:
        proc.kill()
    if stdin is not None:
        try:
            if proc.poll() is None:
                write_frame(stdin, CLOSE)
        except OSError:
            pass
        _quiet_close(stdin)
    try:
        proc.wait(timeout)
        killed = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        killed = True
    error: str | None = None
    if stdout is not None:
        try:
            while (frame := read_frame(stdout)) is not None:  # the child has exited: this never blocks
                if frame[0] != DONE:
                    error = frame[1].decode(errors="replace")
        except OSError:
            pass
        _quiet_close(stdout)
    if killed:
        return f"killed after {timeout:.1f}s"
    if proc.returncode and proc.returncode < 0:
        return error or f"killed by signal {signal.Signals(-proc.returncode).name}"
    if proc.returncode:
        return error or f"exit code {proc.returncode}"
    return error


def _quiet_close(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except OSError:
        pass
