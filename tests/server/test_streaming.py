"""Answers that break part-way, and clients that leave early — streamed and not.

`FlakyAnswer` is a Provider implementation (the seam every backend speaks)
whose answer breaks after two pieces: its stream yields them and then fails or
stalls; its non-streamed call fails or stalls the same way. So the gateway's
behaviour can be observed over real HTTP in both modes: after the first byte a
stream can only end with an error event, while a non-streamed answer still has
its status to say so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import openai
import pytest

from modelyard.errors import ConnectionFailedError
from modelyard.providers.sim import SimProvider
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import ChatRequest, ChatResponse, StreamChunk
from tests.resilience.modes import Mode
from tests.server.server_harness import Gateway

USER = [{"role": "user", "content": "hello"}]
ERROR = {
    "message": "upstream dropped the stream",
    "type": "upstream_error",
    "param": None,
    "code": "connection",
}


class FlakyAnswer(SimProvider):
    def __init__(self, *args: object, stall: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.stall = stall
        self.cancelled_at: float | None = None  # when a stalled call was cancelled (monotonic clock)

    def _drop(self) -> ConnectionFailedError:
        return ConnectionFailedError("upstream dropped the stream", model=self.spec.name, provider=self.kind)

    async def _stall(self) -> None:
        if self.stall:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled_at = time.monotonic()
                raise

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        await self._stall()
        raise self._drop()

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(text="partial ")
        yield StreamChunk(text="answer")
        await self._stall()
        raise self._drop()


def _install(gateway: Gateway, *, stall: bool) -> FlakyAnswer:
    spec = gateway.engine.config.models["sim-slm"]
    provider = FlakyAnswer(spec, gateway.engine.provider_context, stall=stall)
    gateway.engine.providers["sim-slm"] = provider
    return provider


def test_failure_part_way_reaches_the_client_as_an_error(make_gateway: Callable[..., Gateway], mode: Mode) -> None:
    gateway = make_gateway()
    _install(gateway, stall=False)
    received = []
    with gateway.client() as client, pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(  # type: ignore[call-overload]
            model="default", messages=USER, stream=mode == "stream"
        ):
            received.append(chunk.choices[0].delta.content or "")
    if mode == "stream":  # the status went out with the first byte: the error is an event
        assert "".join(received) == "partial answer"
    else:  # nothing was sent yet: the error has its own status
        assert isinstance(caught.value, openai.APIStatusError) and caught.value.status_code == 502
    assert "upstream dropped the stream" in caught.value.message
    assert caught.value.body == ERROR
    trace = gateway.traces.items[-1]
    assert trace.status == "error"
    assert trace.error_kind == "connection"


def test_failure_part_way_is_well_formed(make_gateway: Callable[..., Gateway], mode: Mode) -> None:
    gateway = make_gateway()
    _install(gateway, stall=False)
    reply = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "default", "messages": USER, "stream": mode == "stream"},
    )
    if mode == "non-stream":
        assert reply.status_code == 502 and reply.json() == {"error": ERROR}
        return
    body = reply.text
    events = body.split("\n\n")
    assert events[-1] == ""  # ends on an event boundary
    assert events[-2].startswith('data: {"error":')
    assert "[DONE]" not in body
    assert all(e.startswith("data: ") for e in events[:-1])


def _leave_early(url: str, body: dict[str, object], mode: Mode, seen: str) -> float:
    """Send ``body``, leave while the answer is still coming (streamed: once ``seen`` arrived;
    not streamed: after 0.3 s); returns when the client left (monotonic clock)."""
    with httpx.Client() as http:
        if mode == "stream":
            with http.stream("POST", f"{url}/v1/chat/completions", json=body) as reply:
                for line in reply.iter_lines():
                    if seen in line:
                        break  # leave while the upstream is still streaming
        else:
            with pytest.raises(httpx.ReadTimeout):  # leave while the upstream is still answering
                http.post(f"{url}/v1/chat/completions", json=body, timeout=0.3)
    return time.monotonic()


def test_client_leaving_cancels_the_upstream_call(make_gateway: Callable[..., Gateway], mode: Mode) -> None:
    gateway = make_gateway()
    provider = _install(gateway, stall=True)
    left = _leave_early(gateway.url, {"model": "default", "messages": USER, "stream": mode == "stream"}, mode, "answer")
    deadline = left + 5
    while not (gateway.traces.items and provider.cancelled_at) and time.monotonic() < deadline:
        time.sleep(0.01)
    # The provider's call was cancelled inside its 30 s stall, moments after the client left.
    assert provider.cancelled_at is not None and provider.cancelled_at - left < 2.0
    trace = gateway.traces.items[-1]
    assert [a.status for a in trace.attempts] == ["cancelled"]


def test_client_leaving_closes_the_real_upstream_connection(make_gateway: Callable[..., Gateway], mode: Mode) -> None:
    """The same over a real socket: a loopback upstream that answers slowly (streamed: 0.3 s between
    words; not streamed: 10 s before answering); the client leaves early, and the gateway's
    connection to the upstream is closed long before the answer would have ended."""
    with LoopbackUpstream.running_in_thread() as upstream:
        slow = Fault(chunk_delay_ms=300, times=None) if mode == "stream" else Fault(latency_ms=10_000, times=None)
        upstream.faults.add(slow)
        gateway = make_gateway(
            f"version: 1\nmodels:\n  up: {{family: llm, provider: openai, base_url: '{upstream.url}/v1'}}\n"
            "routers: {default: {kind: fixed, target: up}}\n"
        )
        words = " ".join(f"w{i}" for i in range(40))  # streamed: 40 words at 0.3 s each, a 12 s answer
        body = {"model": "default", "messages": [{"role": "user", "content": words}], "stream": mode == "stream"}
        left = _leave_early(gateway.url, body, mode, "w0")
        while upstream.open_connections and time.monotonic() - left < 3:
            time.sleep(0.01)
        assert upstream.open_connections == 0
        assert len(upstream.requests) == 1  # and it was not re-sent anywhere
