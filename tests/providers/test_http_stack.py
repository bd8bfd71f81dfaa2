"""The pure parts of the shared HTTP stack: SSE decoding, Retry-After, status mapping, excerpts."""

from __future__ import annotations

import email.utils
import time

import pytest

from modelyard.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamMisconfiguredError,
    UpstreamServerError,
)
from modelyard.providers.http import error_class, excerpt, retry_after, upstream_message
from modelyard.providers.sse import LineSplitter, SSEDecoder, SSEEvent


def decode(lines: list[str]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for line in lines if (e := decoder.feed(line)) is not None]
    tail = decoder.flush()
    return [*events, tail] if tail else events


def test_sse_multiline_data_comments_and_names() -> None:
    events = decode(
        [": keep-alive", "event: delta", "data: first", "data:second", "id: 7", "", "data: [DONE]", ""]
    )
    assert events == [SSEEvent(data="first\nsecond", event="delta", id="7"), SSEEvent(data="[DONE]", id="7")]
    assert events[1].is_done and not events[0].is_done


def test_sse_crlf_lines_and_blank_events() -> None:
    events = decode(
        ['data: {"a": 1}\r\n', "\r\n", "\r\n", "event: ping\r\n", "\r\n", "data:  two spaces\r\n"]
    )
    # a blank line with no data dispatches nothing; an unterminated last event is flushed
    assert [e.data for e in events] == ['{"a": 1}', " two spaces"]
    assert events[0].event == "message"


def split(chunks: list[bytes]) -> list[str]:
    splitter = LineSplitter()
    return [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.flush()


def test_lines_end_at_lf_crlf_or_cr_across_chunk_boundaries() -> None:
    stream = "data: a\r\n\r\ndata: b\rdata: c\n\ndata: é\u2028x".encode()  # U+2028 is not a line end
    expected = ["data: a", "", "data: b", "data: c", "", "data: é\u2028x"]
    assert split([stream]) == expected
    for cut in range(1, len(stream)):  # every split point, CRLF and UTF-8 sequences included
        assert split([stream[:cut], stream[cut:]]) == expected, cut
    assert split([b"a\r", b"\n", b"\nb"]) == ["a", "", "b"]  # CR then LF in the next chunk is one line end
    assert split([b"a\r", b"\r", b"b\n"]) == ["a", "", "b"]


def test_sse_unknown_fields_are_ignored() -> None:
    assert decode(["retry: 100", "foo: bar", "data", ""]) == [SSEEvent(data="")]


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "1.5", "retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "-4"}) == 0.0
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    value = retry_after({"retry-after": when})
    assert value is not None and 55 <= value <= 61
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
    google = {"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": "13s"}]}}
    assert retry_after({}, google) == 13.0


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (401, None, AuthenticationError),
        (403, None, AuthenticationError),
        (429, None, RateLimitedError),
        (408, None, ProviderTimeoutError),
        (504, None, ProviderTimeoutError),
        (400, None, BadRequestError),
        (404, None, UpstreamMisconfiguredError),
        (405, None, UpstreamMisconfiguredError),
        (422, None, BadRequestError),
        (500, None, UpstreamServerError),
        (529, None, UpstreamServerError),
        (302, None, MalformedResponseError),
        (400, {"error": {"code": "context_length_exceeded", "message": "x"}}, ContextTooLongError),
        (400, {"error": {"code": "content_filter", "message": "x"}}, ContentFilteredError),
    ],
)
def test_status_mapping(status: int, payload: object, expected: type) -> None:
    assert error_class(status, payload, upstream_message(payload, b"")) is expected


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (40000) exceeds the maximum number of tokens allowed (32768).",
        "the request exceeds the available context size, try increasing it",
    ],
)
def test_context_messages_of_known_servers(message: str) -> None:
    assert error_class(400, None, message) is ContextTooLongError


def test_upstream_message_shapes() -> None:
    assert upstream_message({"error": {"message": "openai/gemini"}}, b"") == "openai/gemini"
    assert (
        upstream_message({"type": "error", "error": {"type": "x", "message": "anthropic"}}, b"")
        == "anthropic"
    )
    assert upstream_message({"error": "ollama style"}, b"") == "ollama style"
    assert upstream_message({"detail": "fastapi style"}, b"") == "fastapi style"
    assert upstream_message(None, b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_excerpt_is_short_one_line_and_redacts_key_shapes() -> None:
    text = excerpt(
        "bad key sk-proj-abcdefghijklmnop\nand Bearer abc.def and ?key=AIzaSyA1234567890abcdef " + "x" * 500
    )
    assert "\n" not in text and len(text) <= 200
    assert "sk-proj" not in text and "abc.def" not in text and "AIzaSy" not in text
    assert text.count("[redacted]") == 3
