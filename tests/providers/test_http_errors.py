"""Every upstream failure maps to one error kind, for all three protocols, chat and stream."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from typing import Any

import pytest
from tests.providers.provider_harness import KINDS, MakeProvider

from modelyard.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    ContentFilteredError,
    ContextTooLongError,
    ErrorKind,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamServerError,
)
from modelyard.providers import Provider
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import ChatRequest, StreamChunk

REQUEST = ChatRequest.from_text("please answer this")
kinds = pytest.mark.parametrize("kind", KINDS)
both = pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])


async def call(provider: Provider, *, stream: bool, budget: float = 5.0) -> list[StreamChunk]:
    if not stream:
        response = await provider.chat(REQUEST, timeout=budget)
        return [StreamChunk(text=response.text, usage=response.usage)]
    return [chunk async for chunk in provider.stream(REQUEST, timeout=budget)]


async def fails(provider: Provider, stream: bool, cls: type[ProviderError], **kw: Any) -> ProviderError:
    with pytest.raises(cls) as info:
        await call(provider, stream=stream, **kw)
    err = info.value
    assert err.model == provider.spec.name and err.provider == provider.kind
    return err


@kinds
@both
async def test_wrong_key_is_auth_error(kind: str, stream: bool, make_provider: MakeProvider) -> None:
    provider = make_provider(kind, api_key_env="OTHER_KEY")
    provider.context.env = {"OTHER_KEY": "sk-wrong-0000000000"}
    err = await fails(provider, stream, AuthenticationError)
    assert err.kind is ErrorKind.AUTH and "HTTP 40" in str(err)


@kinds
async def test_missing_key_is_auth_error_without_a_call(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider(kind, api_key_env="UNSET_KEY_VAR")
    with pytest.raises(AuthenticationError, match="UNSET_KEY_VAR is not set"):
        await provider.chat(REQUEST, timeout=5)
    assert upstream.requests == []


@kinds
@both
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=429, retry_after=7), 7.0),
        (Fault(status=429, retry_after_ms=1500), 1.5),
        (Fault(status=429), None),
    ],
    ids=["seconds", "ms", "unsaid"],
)
async def test_rate_limited_carries_retry_after(
    kind: str,
    stream: bool,
    fault: Fault,
    expected: float | None,
    make_provider: MakeProvider,
    upstream: LoopbackUpstream,
) -> None:
    upstream.faults.add(fault)
    err = await fails(make_provider(kind), stream, RateLimitedError)
    assert isinstance(err, RateLimitedError) and err.upstream_status == 429
    if kind == "gemini" and expected is None:
        assert err.retry_after is None
    else:
        assert err.retry_after == expected


@kinds
async def test_retry_after_http_date(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    upstream.faults.add(Fault(status=429, retry_after=when))
    err = await fails(make_provider(kind), False, RateLimitedError)
    assert isinstance(err, RateLimitedError) and err.retry_after is not None and 25 <= err.retry_after <= 31


@kinds
@both
@pytest.mark.parametrize("status", [400, 422])
async def test_client_errors_are_bad_request(
    kind: str, stream: bool, status: int, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(status=status, message="field 'x' is invalid"))
    err = await fails(make_provider(kind), stream, BadRequestError)
    assert type(err) is BadRequestError and err.upstream_status == status
    assert f"HTTP {status}" in str(err) and "field 'x' is invalid" in str(err)


@kinds
@both
async def test_context_too_long_from_the_upstreams_own_message(
    kind: str, stream: bool, make_provider: MakeProvider
) -> None:
    async with LoopbackUpstream(context_window=3) as small:
        provider = make_provider(kind, base_url=small.url + ("/v1" if kind == "openai" else ""))
        err = await fails(provider, stream, ContextTooLongError)
        assert err.kind is ErrorKind.CONTEXT_TOO_LONG


@kinds
@both
@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors(
    kind: str, stream: bool, status: int, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(status=status))
    err = await fails(make_provider(kind), stream, UpstreamServerError)
    assert err.upstream_status == status


@kinds
@pytest.mark.parametrize("status", [408, 504])
async def test_gateway_timeouts(
    kind: str, status: int, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(status=status))
    err = await fails(make_provider(kind), False, ProviderTimeoutError)
    assert err.upstream_status == status


@kinds
@both
async def test_slow_upstream_times_out_within_budget(
    kind: str, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(latency_ms=2000))
    started = time.perf_counter()
    await fails(make_provider(kind), stream, ProviderTimeoutError, budget=0.15)
    assert time.perf_counter() - started < 1.0


@kinds
async def test_stalled_stream_times_out(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    """The timeout bounds the whole stream, not each read."""
    upstream.faults.add(Fault(chunk_delay_ms=60))
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError, match="stream"):
        async for _ in make_provider(kind).stream(ChatRequest.from_text("a b c d e f g h i j"), timeout=0.2):
            pass
    assert time.perf_counter() - started < 0.6


@kinds
async def test_a_stream_read_slower_than_it_arrives_still_ends_at_the_deadline(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    """The upstream keeps sending and the reader is slower, so every read finds data already
    waiting and never has to wait: the deadline must still end the stream."""
    upstream.faults.add(Fault(chunk_delay_ms=5))
    words = " ".join(f"w{i}" for i in range(80))
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError, match="stream"):
        async for _ in make_provider(kind).stream(ChatRequest.from_text(words), timeout=0.2):
            await asyncio.sleep(0.02)
    assert time.perf_counter() - started < 1.0


@kinds
@both
async def test_malformed_json(
    kind: str, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(malformed_json=True))
    await fails(make_provider(kind), stream, MalformedResponseError)


@kinds
async def test_missing_fields_are_malformed(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(body={"unexpected": True}))
    await fails(make_provider(kind), False, MalformedResponseError)


@kinds
async def test_event_stream_expected(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(body={"unexpected": True}))
    await fails(make_provider(kind), True, MalformedResponseError)


@kinds
@both
async def test_connection_reset(
    kind: str, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(connection_reset=True))
    err = await fails(make_provider(kind), stream, ConnectionFailedError)
    assert err.kind is ErrorKind.CONNECTION


@kinds
async def test_connection_refused(kind: str, make_provider: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider(kind, base_url=f"http://127.0.0.1:{port}")
    await fails(provider, False, ConnectionFailedError)


@kinds
async def test_mid_stream_drop_after_some_text(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(drop_mid_stream=4))
    received: list[str] = []
    with pytest.raises(ConnectionFailedError, match="mid-stream"):
        async for chunk in make_provider(kind).stream(
            ChatRequest.from_text("one two three four five six"), timeout=5
        ):
            received.append(chunk.text)
    assert "".join(received).startswith("echo:")


@kinds
@both
async def test_content_filter(
    kind: str, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(content_filter=True))
    err = await fails(make_provider(kind), stream, ContentFilteredError)
    assert err.kind is ErrorKind.CONTENT_FILTERED


@kinds
@both
async def test_blocked_prompt(
    kind: str, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    """OpenAI: 400 with code content_filter; Gemini: promptFeedback.blockReason; Anthropic: a refusal."""
    upstream.faults.add(Fault(content_filter="prompt"))
    err = await fails(make_provider(kind), stream, ContentFilteredError)
    assert err.kind is ErrorKind.CONTENT_FILTERED


@kinds
@pytest.mark.parametrize(
    ("status", "cls"), [(529, UpstreamServerError), (429, RateLimitedError), (400, BadRequestError)]
)
async def test_error_event_mid_stream(
    kind: str, status: int, cls: type[ProviderError], make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(error_mid_stream=3, status_mid_stream=status, message="Overloaded"))
    with pytest.raises(cls, match="Overloaded"):
        await call(make_provider(kind), stream=True)


@kinds
async def test_fail_first_then_recover(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.fail_first(2)
    provider = make_provider(kind)
    for _ in range(2):
        await fails(provider, False, UpstreamServerError)
    assert (await provider.chat(REQUEST, timeout=5)).text == "echo: please answer this"


@kinds
async def test_cancelling_a_stream_closes_the_upstream_connection(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(chunk_delay_ms=50))
    provider = make_provider(kind)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(ChatRequest.from_text("a b c d e f g h i j k l"), timeout=10):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    assert upstream.open_connections == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if upstream.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert upstream.open_connections == 0


@kinds
async def test_abandoning_a_stream_mid_answer_closes_the_connection_at_once(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    """A client gone mid-answer: no waiting for the rest of the body (that is only for its end)."""
    upstream.faults.add(Fault(chunk_delay_ms=50))
    chunks = make_provider(kind).stream(ChatRequest.from_text("a b c d e f g h i j k l"), timeout=10)
    assert (await anext(chunks)).text
    assert upstream.open_connections == 1
    began = time.perf_counter()
    await chunks.aclose()  # type: ignore[attr-defined]
    assert time.perf_counter() - began < 0.04  # less than one chunk delay: nothing was drained
    for _ in range(100):
        if upstream.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert upstream.open_connections == 0


@kinds
async def test_connection_is_reused_between_calls(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider(kind)
    for stream in (False, True, False, True):
        await call(provider, stream=stream)
    assert upstream.open_connections == 1


@kinds
async def test_cancelling_a_waiting_call_closes_the_upstream_connection(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(latency_ms=3000))
    task = asyncio.create_task(make_provider(kind).chat(REQUEST, timeout=10))
    for _ in range(200):
        if upstream.requests:
            break
        await asyncio.sleep(0.005)
    assert upstream.open_connections == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if upstream.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert upstream.open_connections == 0


@kinds
async def test_undecodable_body_is_malformed(
    kind: str, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(body=b"not gzip at all", headers={"content-encoding": "gzip"}))
    await fails(make_provider(kind), False, MalformedResponseError)
