"""Streams that break after the first byte, and clients that leave early.

`FlakyStream` is a Provider implementation (the seam every backend speaks)
whose stream yields two pieces and then fails or stalls, so the gateway's
behaviour after the response has started can be observed over real HTTP.
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
from modelyard.types import ChatRequest, StreamChunk
from tests.server.server_harness import Gateway

USER = [{"role": "user", "content": "hello"}]


class FlakyStream(SimProvider):
    def __init__(self, *args: object, stall: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.stall = stall

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(text="partial ")
        yield StreamChunk(text="answer")
        if self.stall:
            await asyncio.sleep(30)
        raise ConnectionFailedError("upstream dropped the stream", model=self.spec.name, provider=self.kind)


def _install(gateway: Gateway, *, stall: bool) -> None:
    spec = gateway.engine.config.models["sim-slm"]
    gateway.engine.providers["sim-slm"] = FlakyStream(spec, gateway.engine.provider_context, stall=stall)


def test_mid_stream_failure_ends_with_an_error_event(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway()
    _install(gateway, stall=False)
    received = []
    with gateway.client() as client, pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="default", messages=USER, stream=True):  # type: ignore[arg-type]
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "partial answer"
    assert "upstream dropped the stream" in caught.value.message
    assert caught.value.body == {
        "message": "upstream dropped the stream",
        "type": "upstream_error",
        "param": None,
        "code": "connection",
    }
    trace = gateway.traces.items[-1]
    assert trace.status == "error"
    assert trace.error_kind == "connection"


def test_mid_stream_failure_is_well_formed_sse(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway()
    _install(gateway, stall=False)
    body = httpx.post(
        f"{gateway.url}/v1/chat/completions", json={"model": "default", "messages": USER, "stream": True}
    ).text
    events = body.split("\n\n")
    assert events[-1] == ""  # ends on an event boundary
    assert events[-2].startswith('data: {"error":')
    assert "[DONE]" not in body
    assert all(e.startswith("data: ") for e in events[:-1])


def test_client_leaving_cancels_the_upstream_stream(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway()
    _install(gateway, stall=True)
    with (
        httpx.Client() as http,
        http.stream(
            "POST",
            f"{gateway.url}/v1/chat/completions",
            json={"model": "default", "messages": USER, "stream": True},
        ) as reply,
    ):
        for line in reply.iter_lines():
            if "answer" in line:
                break  # leave while the upstream is still streaming
    deadline = time.monotonic() + 5
    while not gateway.traces.items and time.monotonic() < deadline:
        time.sleep(0.01)
    trace = gateway.traces.items[-1]
    assert [a.status for a in trace.attempts] == ["cancelled"]
