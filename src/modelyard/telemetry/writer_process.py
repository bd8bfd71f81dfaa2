"""`ProcessWriter`: the pipes to a child process that owns a sink (open, write, prune, close).

A SQL sink written from a thread of the gateway competes with the event loop
for the GIL, and loses: a busy asyncio loop drops the GIL for every
``epoll_wait`` and takes it straight back, so a waiting thread rarely gets it
and never forces a switch (CPython asks the holder to drop the GIL only when
no switch happened for 5 ms). Measured behind the in-process bench's loop: a
thread waking from a 2 ms sleep waited up to 0.4–0.6 s for the GIL. So the
child does the database work in its own process, and the frames are sent
without needing the thread: `send` and `poll` never block, and `SinkWorker`
calls them from ``offer`` (which holds the GIL anyway) when a batch is full.
The worker's thread uses the blocking calls for the rest — starting the
child, partial batches, flush, prune, close.

- The child (``python -m modelyard.telemetry.writer_child``, started with
  ``subprocess``: fork + exec, so nothing of the gateway's threads or its
  ``__main__`` comes along) builds the sink from a `Spec` sent in its first
  frame, never from its command line or environment.
- Every frame sent has a ticket; the child answers frames in order, and
  `poll` / `wait` hand back ``(ticket, ok, text)`` for each answer. A child
  that dies fails every ticket still open; `start` then begins a new one.
- Not thread-safe: the worker serialises every call but `kill`, which may
  come from any thread and makes a blocked `wait` return.
- ``close`` waits for the answers, sends ``C``, waits ``close_timeout`` for
  the child to exit, then kills it; the child is reaped either way. A child
  also exits when its stdin closes, so it never outlives the gateway.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from modelyard.telemetry.wire import CLOSE, DONE, OPEN, PIPE_SIZE, Spec, write_frame

__all__ = ["Answer", "ProcessWriter", "SinkProcessError", "writer_spec"]

CHILD_MODULE = "modelyard.telemetry.writer_child"

#: (the ticket given with a frame, whether the child did it, its answer's text: an error, or a count)
Answer = tuple[object, bool, str]


def writer_spec(sink: object) -> Spec | None:
    """What a writer process needs to build a copy of ``sink`` (its ``writer_spec()``); None if it cannot."""
    spec = getattr(sink, "writer_spec", None)
    return spec() if callable(spec) else None


class SinkProcessError(Exception):
    """The writer process could not be started or could not open its sink (the child's error text)."""


class _Own:
    """The ticket of a request the writer makes for itself (open)."""


class ProcessWriter:
    """Frames to and answers from the child process writing ``name``'s sink, built from ``spec``."""

    def __init__(self, spec: Spec, *, name: str, close_timeout: float = 5.0) -> None:
        self.name = name
        self._spec = spec  # may hold a DSN: never logged, never in a repr
        self.close_timeout = close_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._to = -1  # our end of the child's stdin, non-blocking
        self._from = -1  # our end of its stdout, non-blocking
        self._outbox = memoryview(b"")  # what the pipe has not taken yet of the last frame
        self._inbox = bytearray()
        self._tickets: deque[object] = deque()  # one per frame sent and not answered, oldest first
        self._ready = False  # running, and its sink is open
        self._closed = False
        self.started = 0  # children started so far

    # -- state ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The running child's process id, if one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def ready(self) -> bool:
        """A child runs with its sink open (as far as its pipes tell: `poll` notices a death)."""
        return self._ready

    @property
    def in_flight(self) -> int:
        """Frames sent and not answered yet."""
        return len(self._tickets)

    @property
    def backed_up(self) -> bool:
        """The pipe has not taken all of the last frame: `send` must wait (`push` first)."""
        return bool(self._outbox)

    # -- never blocking ------------------------------------------------------------------------

    def send(self, op: bytes, payload: bytes, ticket: object) -> list[Answer]:
        """Send one frame to a `ready` child (not `backed_up`); the pipe takes what it can now, `push`
        and `wait` send the rest. Returns answers that arrived (all failed when the child died)."""
        assert self._ready and not self._outbox, "send needs a ready child and an empty outbox"
        self._tickets.append(ticket)
        return self._send(op, payload)

    def push(self) -> list[Answer]:
        """Send more of a backed-up frame, as much as the pipe takes now."""
        if not self._outbox or self._proc is None:
            return []
        try:
            self._outbox = self._outbox[_write_some(self._to, self._outbox) :]
        except OSError:
            return self._died(block=False)
        return []

    def poll(self, *, block: bool = False) -> list[Answer]:
        """Answers that arrived (and the rest of a backed-up frame sent, as far as it goes); never waits
        for the child. ``block``: the child closed its pipe — wait (≤ 1 s) to reap it."""
        if self._proc is None:
            return []
        answers = self.push()
        if self._proc is None:
            return answers
        eof = False
        try:
            while chunk := os.read(self._from, 1 << 16):
                self._inbox += chunk
        except BlockingIOError:
            pass
        except OSError:
            eof = True
        else:
            eof = True  # read returned b"": the child closed its stdout (it exited or is exiting)
        answers += self._answers()
        if eof:
            answers += self._died(block=block)
        return answers

    def check(self) -> list[Answer]:
        """Notice a child that exited even if its pipes have not told yet (reaps it; one system call)."""
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            return self.poll(block=True) + self._died(block=True)
        return []

    def kill(self) -> None:
        """Kill the child now (a `wait` on it returns, its open frames fail) and start no other."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    # -- blocking (the worker's thread) ---------------------------------------------------------

    def start(self) -> list[Answer]:
        """Reap a dead child, start a new one and open its sink (its migrations run there).
        Raises `SinkProcessError` when it cannot; returns answers of a previous child, if any."""
        answers = self._reap()
        if self._closed:
            raise SinkProcessError(f"the writer process of {self.name} is closed")
        self._start()
        ticket = _Own()
        self._tickets.append(ticket)
        answers += self._send(OPEN, json.dumps(self._spec).encode())
        answers += self.wait(lambda: ticket not in self._tickets)
        own = [a for a in answers if a[0] is ticket]
        if not own or not own[0][1]:  # a child whose sink cannot open is of no use
            self._reap(graceful=True)
            raise SinkProcessError(own[0][2] if own else f"the writer process of {self.name} died")
        self._ready = True
        return [a for a in answers if a[0] is not ticket]

    def wait(self, until: Callable[[], bool], timeout: float | None = None) -> list[Answer]:
        """Send and read until ``until()`` (or the child is gone, or ``timeout`` seconds passed)."""
        answers: list[Answer] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._proc is not None and not until():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            poller = select.poll()
            poller.register(self._from, select.POLLIN)
            if self._outbox:
                poller.register(self._to, select.POLLOUT)
            poller.poll(None if left is None else max(1, int(left * 1000)))
            answers += self.poll(block=True)
        return answers

    def wait_io(self, timeout: float) -> None:
        """Block until the child has written something (an answer, or its end) or can take the rest of a
        backed-up frame, or ``timeout`` seconds. Reads nothing and changes nothing, so a caller may wait
        here without the lock it holds for the other calls (only `start`, `close` and a blocking `poll`
        close the pipes, and they are the waiter's own calls)."""
        proc = self._proc
        if proc is None:
            return
        poller = select.poll()
        poller.register(self._from, select.POLLIN)
        if self._outbox:
            poller.register(self._to, select.POLLOUT)
        poller.poll(max(1, int(timeout * 1000)))

    def close(self) -> list[Answer]:
        """Wait for every answer, let the child close its sink and exit (killed after ``close_timeout``),
        reap it. Answers of the last frames come back; a failure to close is a failed answer."""
        self._closed = True
        answers = self.wait(lambda: not self._tickets)
        return answers + self._reap(graceful=True)

    # -- the child -------------------------------------------------------------------------------

    def _start(self) -> None:
        env = dict(os.environ)
        source = str(Path(__file__).resolve().parents[2])  # the directory holding the ``modelyard`` package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
        env["OPENBLAS_NUM_THREADS"] = "1"  # importing modelyard imports numpy: no BLAS threads in a writer
        proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True
        )
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._to, self._from = proc, proc.stdin.fileno(), proc.stdout.fileno()
        with contextlib.suppress(OSError, AttributeError):  # Linux only; capped by /proc/sys/fs/pipe-max-size
            fcntl.fcntl(self._to, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(self._to, False)
        os.set_blocking(self._from, False)
        self._inbox.clear()
        self._outbox = memoryview(b"")
        self.started += 1

    def _send(self, op: bytes, payload: bytes) -> list[Answer]:
        frame = [(len(payload) + 1).to_bytes(4, "big") + op, payload]
        try:
            sent = os.writev(self._to, frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            return self._died(block=False)
        if sent < len(frame[0]) + len(payload):
            self._outbox = memoryview(b"".join(frame))[sent:]
        return []

    def _answers(self) -> list[Answer]:
        out: list[Answer] = []
        inbox = self._inbox
        while len(inbox) >= 4 and len(inbox) >= 4 + (size := int.from_bytes(inbox[:4], "big")):
            op, text = bytes(inbox[4:5]), inbox[5 : 4 + size].decode(errors="replace")
            del inbox[: 4 + size]
            if self._tickets:
                out.append((self._tickets.popleft(), op == DONE, text))
        return out

    def _died(self, *, block: bool) -> list[Answer]:
        """The child is gone: every open ticket fails. Reaped now when ``block``, else by the next `start`."""
        self._ready = False
        proc = self._proc
        if proc is not None and block:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)
        how = _ended(proc.returncode) if proc is not None and proc.poll() is not None else "it closed its pipe"
        error = f"the writer process of {self.name} died ({how})"
        failed = [(t, False, error) for t in self._tickets]
        self._tickets.clear()
        self._outbox = memoryview(b"")
        if block:
            self._reap()
        return failed

    def _reap(self, *, graceful: bool = False) -> list[Answer]:
        """End the child (``graceful``: ask it to close its sink, then wait ``close_timeout``; else kill it)
        and release its pipes. A failure while closing comes back as a failed answer."""
        proc, self._proc, self._ready = self._proc, None, False
        self._tickets.clear()
        if proc is None:
            return []
        if graceful and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.set_blocking(self._to, True)
                write_frame(self._to, CLOSE)
        elif proc.poll() is None:
            proc.kill()
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # end of input: the child closes its sink and exits
        try:
            proc.wait(self.close_timeout if graceful else 1.0)
            how = None if proc.returncode == 0 else _ended(proc.returncode)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            how = f"was killed after {self.close_timeout:.1f}s"
        error = None
        with contextlib.suppress(OSError):  # it has exited: what is left in the pipe is its last words
            while chunk := os.read(self._from, 1 << 16):
                self._inbox += chunk
            for op, text in _frames(self._inbox):
                if op != DONE:
                    error = text
        self._inbox.clear()
        with contextlib.suppress(OSError):
            proc.stdout.close()
        if graceful and (error or how):  # a child reaped after its death was reported then
            return [(_Own(), False, error or f"the writer process of {self.name} ended: {how}")]
        return []

    def __repr__(self) -> str:
        return f"ProcessWriter({self.name!r}, pid={self.pid})"


def _write_some(fd: int, data: memoryview) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def _frames(buf: bytearray) -> list[tuple[bytes, str]]:
    out = []
    while len(buf) >= 5 and len(buf) >= 4 + (size := int.from_bytes(buf[:4], "big")):
        out.append((bytes(buf[4:5]), buf[5 : 4 + size].decode(errors="replace")))
        del buf[: 4 + size]
    return out


def _ended(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"
