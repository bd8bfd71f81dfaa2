"""A sink's writer process: ``python -m modelyard.telemetry.writer_child`` (started by `ProcessWriter`).

It owns the real sink — open (migrations), write, prune, close — and answers
each frame of `modelyard.telemetry.wire` on its stdout. Its own prints and
log lines go to stderr: stdout is kept for frames. It ignores SIGINT and
SIGTERM (a Ctrl-C at the terminal reaches the whole process group; the
gateway must still be able to drain into it) and ends when the gateway
sends ``C`` or its end of the pipe closes (the gateway exited or died), so it
never outlives the process that started it.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
from typing import IO, Any

from modelyard.telemetry.sinks.base import SINK_PACKAGE, Sink
from modelyard.telemetry.wire import (
    CLOSE,
    DONE,
    FAILED,
    OPEN,
    PIPE_SIZE,
    PRUNE,
    WRITE,
    Spec,
    decode_items,
    read_frame,
    write_frame,
)

__all__ = ["build_sink", "main", "serve"]


def build_sink(spec: Spec) -> Sink:
    """The sink a `Spec` describes: the class its ``sink`` names (``module:Class``, a class of
    `modelyard.telemetry.sinks`) built by that class's ``from_writer_spec`` (ValueError otherwise)."""
    target = spec.get("sink")
    module, _, name = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not module.startswith(SINK_PACKAGE) or not name:
        raise ValueError(f"a writer process builds only sinks of {SINK_PACKAGE}*, not {target!r}")
    cls = getattr(importlib.import_module(module), name, None)
    build = getattr(cls, "from_writer_spec", None)
    if build is None:
        raise ValueError(f"{target!r} is not a sink a writer process can build (no from_writer_spec)")
    sink: Sink = build(spec)
    return sink


def _error(exc: BaseException) -> bytes:
    return f"{type(exc).__name__}: {str(exc)[:300]}".encode()


def serve(inp: IO[bytes], out: int) -> None:
    """Answer frames until ``C`` or end of input; the sink is closed on the way out."""
    sink: Sink | None = None
    try:
        while (frame := read_frame(inp)) is not None:
            op, payload = frame
            if op == CLOSE:
                break
            try:
                answer = b""
                if op == OPEN:
                    if sink is not None:
                        raise RuntimeError("the sink is already open")
                    built = build_sink(json.loads(payload))
                    built.open()
                    sink = built
                elif sink is None:
                    raise RuntimeError(f"op {op!r} before open")
                elif op == WRITE:
                    sink.write(decode_items(payload))
                elif op == PRUNE:
                    prune: Any = getattr(sink, "prune", None)
                    answer = str(int(prune(float(payload)))).encode() if prune is not None else b"0"
                else:
                    raise ValueError(f"unknown op {op!r}")
            except Exception as exc:  # reported to the gateway, which counts the batch as failed
                write_frame(out, FAILED, _error(exc))
            else:
                write_frame(out, DONE, answer)
    finally:
        closed_ok = True
        if sink is not None:
            try:
                sink.close()
            except Exception as exc:
                closed_ok = False
                _try_send(out, FAILED, _error(exc))
        if closed_ok:
            _try_send(out, DONE, b"")


def _try_send(out: int, op: bytes, payload: bytes) -> None:
    try:
        write_frame(out, op, payload)
    except OSError:  # the gateway is gone: nobody to tell
        pass


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # As a serving gateway does (modelyard.server.gctune): what the imports made is never scanned
    # again, and young collections run less often. Each batch makes hundreds of short-lived records;
    # measured: decoding a record 18-21 -> 13 us.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    inp = os.fdopen(os.dup(0), "rb", buffering=PIPE_SIZE)
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # stray writes to stdout (C libraries, prints) land on stderr, not in the frames
    sys.stdout = sys.stderr
    serve(inp, out)


if __name__ == "__main__":
    main()
