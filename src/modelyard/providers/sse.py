"""A server-sent events decoder: bytes → lines (`LineSplitter`) → events (`SSEDecoder`).

Follows the WHATWG event-stream rules that matter for model APIs: lines end
with LF, CRLF or CR (and nothing else: a U+2028 inside JSON data is not a
line break), several ``data:`` lines join with newlines, ``:`` lines are
comments (keep-alives), one leading space after the colon is dropped, and a
blank line ends an event.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LineSplitter", "SSEDecoder", "SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    data: str
    event: str = "message"
    id: str | None = None

    @property
    def is_done(self) -> bool:
        """OpenAI's end-of-stream sentinel, ``data: [DONE]``."""
        return self.data == "[DONE]"


class SSEDecoder:
    """Turn lines into events; `feed` returns an event when a blank line completes one."""

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        return None

    def flush(self) -> SSEEvent | None:
        """An event left without its closing blank line when the stream ended."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = None
        return event


class LineSplitter:
    """Split a byte stream into text lines at LF, CRLF or CR, whatever the chunk boundaries."""

    __slots__ = ("_after_cr", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._after_cr = False  # the last chunk ended in CR: a leading LF belongs to it

    def feed(self, chunk: bytes) -> list[str]:
        """The lines this chunk completes (without their line ends)."""
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        data = self._pending + chunk if self._pending else chunk
        self._after_cr = data[-1:] == b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._pending = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """The last line, when the stream ended without a line end."""
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", "replace")] if rest else []
