"""The loopback "model": a deterministic answer to a protocol-neutral turn.

Each protocol module parses its wire format into a `Turn` and renders an
`Answer` back, so the three protocols answer the same request identically and
tests can compare them. The answer echoes the last user text and says how many
images arrived; tokens are counted as words so the numbers are predictable.
A request for several choices (OpenAI ``n``, Gemini ``candidateCount``) gets
distinct ones: choice ``i > 0`` ends with `` [choice i]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Answer",
    "ContextOverflow",
    "ProtocolError",
    "Reply",
    "Turn",
    "WireProtocol",
    "answer",
    "answers",
    "embedding",
    "json_reply",
    "logprob",
    "pieces",
    "sse",
    "word_count",
]

#: tokens charged per image, roughly what vision models bill for a small one
IMAGE_TOKENS = 85
_WORDS = re.compile(r"\s*\S+")


class ProtocolError(Exception):
    """The request breaks the protocol; the upstream answers ``status`` with its error body.

    ``body``, when given, is sent as is (JSON) instead of the protocol's own error shape:
    a server dialect with an error body of its own.
    """

    def __init__(self, status: int, message: str, code: str | None = None, *, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.body = body


class ContextOverflow(Exception):
    """The prompt is longer than the upstream's configured context window."""

    def __init__(self, tokens: int, window: int) -> None:
        super().__init__(f"{tokens} > {window}")
        self.tokens = tokens
        self.window = window


@dataclass
class Reply:
    """A response to send: a whole JSON body, or a list of encoded stream events."""

    status: int = 200
    body: bytes = b""
    events: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        return self.events is not None


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(
        status, json.dumps(data, separators=(",", ":")).encode(), None, {"content-type": "application/json"}
    )


@dataclass
class Turn:
    """What the loopback understood of a request, whatever the protocol."""

    user_text: str = ""
    texts: list[str] = field(default_factory=list)
    images: int = 0
    messages: int = 0
    max_tokens: int | None = None
    tools: list[str] = field(default_factory=list)
    tool_result: str | None = None
    logprobs: bool = False
    choices: int = 1


@dataclass
class Answer:
    text: str
    finish: str  # "stop" | "length" | "tool_calls"
    input_tokens: int
    output_tokens: int
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None

    @property
    def tool_args_json(self) -> str:
        return json.dumps(self.tool_args or {}, separators=(",", ":"))


def word_count(text: str) -> int:
    return len(text.split())


def answer(turn: Turn, *, context_window: int | None = None, choice: int = 0) -> Answer:
    """The deterministic reply to choice ``choice``; raises `ContextOverflow` when the prompt is over the window."""
    input_tokens = sum(word_count(t) for t in turn.texts) + IMAGE_TOKENS * turn.images + 3 * turn.messages
    if context_window is not None and input_tokens > context_window:
        raise ContextOverflow(input_tokens, context_window)
    if turn.tool_result is not None:
        text = f"tool said: {' '.join(turn.tool_result.split())}"
    elif turn.tools:
        args = {"query": " ".join(turn.user_text.split())}
        return Answer("", "tool_calls", input_tokens, 1 + word_count(args["query"]), turn.tools[0], args)
    else:
        text = f"echo: {' '.join(turn.user_text.split()) or '(no text)'}"
        if turn.images:
            text += f" [images: {turn.images}]"
        if choice:
            text += f" [choice {choice}]"
    words = text.split(" ")
    finish = "stop"
    if turn.max_tokens is not None and len(words) > turn.max_tokens:
        words, finish = words[: turn.max_tokens], "length"
    return Answer(" ".join(words), finish, input_tokens, len(words))


def answers(turn: Turn, first: Answer) -> list[Answer]:
    """``first`` and the other choices the turn asked for, in index order."""
    return [first, *(answer(turn, choice=i) for i in range(1, turn.choices))]


def pieces(text: str) -> list[str]:
    """Stream pieces, one word each with its leading space, that join back to ``text``."""
    return _WORDS.findall(text) or [text]


def logprob(i: int) -> float:
    """A fixed, plausible log-probability for the ``i``-th token."""
    return -0.01 * (1 + i % 7)


def embedding(text: str, dim: int = 8) -> list[float]:
    """A unit vector derived from a hash of the text: same text, same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dim)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in raw]


def sse(data: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless it is already text."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    nl = "\r\n" if crlf else "\n"
    head = f"event: {event}{nl}" if event else ""
    return f"{head}data: {payload}{nl}{nl}".encode()


class WireProtocol(Protocol):
    """What the upstream needs from each protocol module for chat and errors."""

    name: str

    def parse_chat(self, body: Any) -> Turn: ...

    def chat_reply(
        self, model: str, body: dict[str, Any], turn: Turn, ans: Answer, *, stream: bool, filtered: bool
    ) -> Reply: ...

    def error(
        self, status: int, message: str, code: str | None = None, *, retry_after: float | None = None
    ) -> Reply: ...

    def context_error(self, tokens: int, window: int) -> ProtocolError: ...

    def stream_error(self, status: int, message: str) -> bytes: ...

    def blocked_prompt(self, model: str, body: dict[str, Any], *, stream: bool) -> Reply: ...

    def check_key(self, headers: dict[str, str], query: dict[str, str], key: str) -> ProtocolError | None: ...
