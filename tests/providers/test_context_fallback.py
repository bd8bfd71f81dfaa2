"""End to end: a context overflow worded by SGLang makes the configured context fallback answer.

A client (the official ``openai`` SDK) asks the gateway for ``small``; its
upstream (an SGLang-dialect loopback with a 12-token window) answers the
issue's ``400 "The input (N tokens) is longer than the model's context length
(12 tokens)."``; the chain configured for ``context_too_long`` sends the
request to ``large`` (a larger-context model of the same family) on another
upstream, which answers. Before classification by meaning this was the
caller's 400 and the fallback never ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from tests.server.server_harness import Gateway, running

from modelyard.testing import Fault, LoopbackUpstream

LONG = (
    "please summarise these twenty words about rivers lakes seas oceans ponds creeks brooks streams "
    "and every other water"
)
USER = [{"role": "user", "content": LONG}]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackUpstream, LoopbackUpstream]]:
    with (
        LoopbackUpstream.running_in_thread(context_window=12, dialect="sglang") as small,
        LoopbackUpstream.running_in_thread() as large,
    ):
        yield small, large


@pytest.fixture(scope="module")
def gateway(upstreams: tuple[LoopbackUpstream, LoopbackUpstream]) -> Iterator[Gateway]:
    small, large = upstreams
    config = f"""
version: 1
models:
  small:
    family: llm
    provider: openai
    base_url: {small.url}/v1
    context_window: 64
    price: {{input: 1.0, output: 1.0}}
  large:
    family: llm
    provider: openai
    base_url: {large.url}/v1
    context_window: 4096
    price: {{input: 2.0, output: 2.0}}
  misrouted:
    family: slm
    provider: openai
    base_url: {small.url}/v1
  lonely:
    family: vlm
    provider: openai
    base_url: {small.url}/v1
routers:
  default: {{kind: fixed, target: small}}
resilience:
  breaker: {{enabled: false}}
  fallbacks:
    small: {{to: [large], when: [context_too_long]}}
    misrouted: [large]
"""
    with running(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]) -> Iterator[openai.OpenAI]:
    for up in upstreams:
        up.faults.clear()
        up.clear_requests()
    with gateway.client() as c:
        yield c


def test_sglang_overflow_falls_back_to_the_larger_context_model(
    client: openai.OpenAI, gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    small, large = upstreams
    raw = client.chat.completions.with_raw_response.create(model="small", messages=USER)  # type: ignore[arg-type]
    answer = raw.parse()
    assert answer.model == "large" and raw.headers["x-modelyard-model"] == "large"
    assert "rivers lakes seas" in (answer.choices[0].message.content or "")
    assert len(small.requests) == 1 and len(large.requests) == 1
    trace = gateway.traces.items[-1]
    assert [(a.model, a.error_kind) for a in trace.attempts] == [("small", "context_too_long"), ("large", None)]
    assert [e.kind for e in trace.events] == ["fallback"]


def test_streaming_falls_back_before_the_first_token(
    client: openai.OpenAI, gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    small, large = upstreams
    chunks = list(client.chat.completions.create(model="small", messages=USER, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "rivers lakes seas" in text
    assert len(small.requests) == 1 and len(large.requests) == 1
    trace = gateway.traces.items[-1]
    assert [(a.model, a.error_kind) for a in trace.attempts] == [("small", "context_too_long"), ("large", None)]


def test_without_a_larger_model_the_caller_gets_a_400_naming_the_overflow(
    client: openai.OpenAI, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    """Both too small: the client's 400 says context_too_long, with the upstream's own words."""
    _, large = upstreams
    large.faults.add(
        Fault(
            status=400,
            body={
                "object": "error",
                "message": "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
        )
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="small", messages=USER)  # type: ignore[arg-type]
    error = caught.value.response.json()["error"]
    assert error["code"] == "context_too_long"
    assert "longer than the model's context length (4096 tokens)" in error["message"]


@pytest.mark.parametrize("status", [404, 405])
def test_a_404_or_405_from_the_upstream_falls_back(
    status: int, client: openai.OpenAI, gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    """The upstream has no such endpoint: kind ``server``, which the default fallback kinds include."""
    small, _ = upstreams
    small.faults.add(Fault(status=status, body={"error": "model 'x' not found, try pulling it first"}))
    answer = client.chat.completions.create(model="misrouted", messages=[{"role": "user", "content": "hi"}])
    assert answer.model == "large"
    trace = gateway.traces.items[-1]
    assert [(a.model, a.error_kind) for a in trace.attempts] == [("misrouted", "server"), ("large", None)]


@pytest.mark.parametrize("status", [404, 405])
def test_a_404_or_405_without_fallback_is_502_not_the_callers_error(
    status: int, client: openai.OpenAI, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    small, _ = upstreams
    small.faults.add(Fault(status=status, body={"detail": "Not Found"}))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="lonely", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    error = caught.value.response.json()["error"]
    assert error["code"] == "server" and error["type"] == "upstream_error"
    assert "check base_url" in error["message"]
