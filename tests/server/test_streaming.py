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

    def _drop(self) -> ConnectionFailedError:
        return ConnectionFailedError("upstream dropped the stream", model=self.spec.name, provider=self.kind)

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        if self.stall:
            await asyncio.sleep(30)
        raise self._drop()

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
        raise self._drop()


def _install(gateway: Gateway, *, stall: bool) -> None:
    spec = gateway.engine.config.models["sim-slm"]
    gateway.engine.providers["sim-slm"] = FlakyAnswer(spec, gateway.engine.provider_context, stall=stall)


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


def test_client_leaving_cancels_the_upstream_call(make_gateway: Callable[..., Gateway], mode: Mode) -> None:
    gateway = make_gateway()
    _install(gateway, stall=True)
    with httpx.Client() as http:
        body = {"model": "default", "messages": USER, "stream": mode == "stream"}
        if mode == "stream":
            with http.stream("POST", f"{gateway.url}/v1/chat/completions", json=body) as reply:
                for line in reply.iter_lines():
                    if "answer" in line:
                        break  # leave while the upstream is still streaming
        else:
            with pytest.raises(httpx.ReadTimeout):  # leave while the upstream is still answering
                http.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=0.3)
    deadline = time.monotonic() + 5
    while not gateway.traces.items and time.monotonic() < deadline:
        time.sleep(0.01)
    trace = gateway.traces.items[-1]
    assert [a.status for a in trace.attempts] == ["cancelled"]
