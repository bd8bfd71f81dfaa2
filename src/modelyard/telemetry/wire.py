"""The pipe protocol between the gateway (a sink's worker) and the sink's writer process.

Every message, both ways, is one frame: a 4-byte big-endian length, then that
many bytes — an op byte and its payload. The process answers every frame, in
the order they came. A frame is written with one system call (`write_frame`,
or ``writev`` in `ProcessWriter`) into a pipe made 1 MiB large where the
system allows (`PIPE_SIZE`), so a usual batch crosses in one piece instead of
64 KiB at a time, each piece waiting for both processes to be scheduled.

| op | direction | payload | answer |
|---|---|---|---|
| ``O`` open | gateway → process | JSON: the sink to build (`Spec`) | ``K`` or ``E`` |
| ``W`` write | gateway → process | each item: tag (``R``, ``F``), 4-byte length, JSON | ``K``/``E`` |
| ``P`` prune | gateway → process | seconds since the epoch, as text | ``K`` + records deleted, as text, or ``E`` |
| ``C`` close | gateway → process | empty | ``K`` or ``E``, then the process exits |
| ``K`` done | process → gateway | per request above | |
| ``E`` failed | process → gateway | ``Type: message`` of the exception (≤ 300 characters) | |

End of input (the gateway closed the pipe or died) closes the sink and ends
the process, like ``C``. Items are pydantic's JSON (``__pydantic_serializer__``,
~3 µs per record; pickling the models costs ~4× that) and are validated again
on the other side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.sinks.base import Item

__all__ = [
    "CLOSE",
    "DONE",
    "FAILED",
    "OPEN",
    "PIPE_SIZE",
    "PRUNE",
    "WRITE",
    "Spec",
    "decode_items",
    "encode_item",
    "encode_items",
    "read_frame",
    "write_frame",
]

OPEN, WRITE, PRUNE, CLOSE = b"O", b"W", b"P", b"C"
#: the pipe size asked for (``F_SETPIPE_SZ``; Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default)
PIPE_SIZE = 1 << 20
DONE, FAILED = b"K", b"E"

#: what a writer process builds its sink from: ``{"sink": "module:Class", …}`` (see each
#: sink's ``writer_spec``); a PostgreSQL spec carries the one environment variable holding its DSN
Spec = dict[str, Any]

_RECORD, _FEEDBACK = b"R"[0], b"F"[0]
_to_record = Record.__pydantic_serializer__.to_json
_to_feedback = Feedback.__pydantic_serializer__.to_json


def encode_item(item: Item) -> bytes:
    """One item of a ``W`` payload: its tag, its length, its model's JSON."""
    if isinstance(item, Record):
        body = _to_record(item)
        return b"R" + len(body).to_bytes(4, "big") + body
    body = _to_feedback(item)
    return b"F" + len(body).to_bytes(4, "big") + body


def encode_items(items: Sequence[Item]) -> bytes:
    """One ``W`` payload: the items encoded (`encode_item`) one after the other."""
    return b"".join(map(encode_item, items))


def decode_items(payload: bytes) -> list[Item]:
    """The items of a ``W`` payload, validated; ValueError on a malformed payload."""
    out: list[Item] = []
    at, end = 0, len(payload)
    while at < end:
        if at + 5 > end:
            raise ValueError(f"truncated item header at byte {at}")
        tag = payload[at]
        size = int.from_bytes(payload[at + 1 : at + 5], "big")
        body = payload[at + 5 : at + 5 + size]
        if len(body) != size:
            raise ValueError(f"truncated item at byte {at}: {len(body)} of {size} bytes")
        if tag == _RECORD:
            out.append(Record.model_validate_json(body))
        elif tag == _FEEDBACK:
            out.append(Feedback.model_validate_json(body))
        else:
            raise ValueError(f"unknown item tag {tag!r} at byte {at}")
        at += 5 + size
    return out


def write_frame(fd: int, op: bytes, payload: bytes = b"") -> None:
    """Send one frame to the file descriptor ``fd`` in one system call (raises OSError, e.g.
    BrokenPipeError, when the other side is gone). One call, not a buffered header and body:
    a thread behind a busy event loop waits for the GIL after every call."""
    head = (len(payload) + 1).to_bytes(4, "big") + op
    sent = os.writev(fd, [head, payload]) if payload else os.write(fd, head)
    if sent < len(head) + len(payload):  # cut short (a signal): send the rest
        rest = memoryview(head + payload)[sent:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def read_frame(inp: IO[bytes]) -> tuple[bytes, bytes] | None:
    """``(op, payload)`` of the next frame; None at end of input (also mid-frame: the writer died)."""
    head = inp.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    body = inp.read(size)
    if len(body) < size or size < 1:
        return None
    return body[:1], body[1:]
