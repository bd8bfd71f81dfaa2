"""The gateway in front of a real OpenAI-protocol upstream (`LoopbackUpstream`) over loopback.

Upstream failures arrive as HTTP statuses, resets and broken streams; the
client must see OpenAI-shaped errors with the gateway's status: 429 keeps the
upstream's Retry-After, 5xx and resets are 502, slowness past the model's
timeout is 504, and a stream that breaks after the first byte ends with an
SSE error event.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from modelyard.testing import Fault, LoopbackUpstream
from tests.resilience.modes import Mode
from tests.server.server_harness import Gateway, running

USER = [{"role": "user", "content": "tell me about   rivers"}]
KEY = "sk-loopback-key-123456"


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread(api_key=KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: LoopbackUpstream) -> Iterator[Gateway]:
    config = f"""
version: 1
models:
  up:
    family: llm
    provider: openai
    upstream_model: loopback-large
    base_url: {upstream.url}/v1
    api_key_env: LOOPBACK_KEY
    timeout_s: 0.5
    price: {{input: 1.0, output: 2.0}}
  up-embed:
    family: mlm
    provider: openai
    base_url: {upstream.url}/v1
    api_key_env: LOOPBACK_KEY
routers:
  default: {{kind: fixed, target: up}}
resilience:
  breaker: {{enabled: false}}  # these tests look at one failure at a time
"""
    with running(config, env={"LOOPBACK_KEY": KEY}) as gw:
        yield gw


@pytest.fixture
def client(gateway: Gateway, upstream: LoopbackUpstream) -> Iterator[openai.OpenAI]:
    upstream.faults.clear()
    with gateway.client() as c:
        yield c
    upstream.faults.clear()


def _ask(client: openai.OpenAI, mode: Mode) -> None:
    """One chat request, streamed or not, read to the end (errors before the first byte raise as statuses)."""
    answer = client.chat.completions.create(model="default", messages=USER, stream=mode == "stream")  # type: ignore[call-overload]
    if mode == "stream":
        list(answer)


def test_chat_and_stream_through_a_real_upstream(client: openai.OpenAI, upstream: LoopbackUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(model="default", messages=USER)  # type: ignore[arg-type]
    plain = raw.parse()
    assert "tell me about rivers" in (plain.choices[0].message.content or "")
    assert plain.model == "up"
    assert raw.headers["x-modelyard-model"] == "up"
    assert "x-modelyard-simulated" not in raw.headers
    assert float(raw.headers["x-modelyard-cost-usd"]) > 0
    assert upstream.requests[-1].json()["model"] == "loopback-large"
    assert "modelyard" not in upstream.requests[-1].json()

    chunks = list(
        client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == plain.choices[0].message.content
    )
    assert chunks[-1].usage == plain.usage
    assert chunks[-1].modelyard["cost_usd"] > 0  # type: ignore[attr-defined]


def test_embeddings_through_a_real_upstream(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="up-embed", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0


def test_upstream_429_keeps_its_retry_after(client: openai.OpenAI, upstream: LoopbackUpstream, mode: Mode) -> None:
    upstream.faults.add(Fault(status=429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(client, mode)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.json()["error"]["type"] == "rate_limit_exceeded"


@pytest.mark.parametrize("fault", [Fault(status=500), Fault(status=503), Fault(connection_reset=True)])
def test_upstream_failures_are_502(
    client: openai.OpenAI, upstream: LoopbackUpstream, fault: Fault, mode: Mode
) -> None:
    upstream.faults.add(fault)
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(client, mode)
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["type"] == "upstream_error"


def test_upstream_rejecting_the_gateways_key_is_502_not_401(
    client: openai.OpenAI, upstream: LoopbackUpstream, mode: Mode
) -> None:
    upstream.faults.add(Fault(status=401))
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(client, mode)
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["code"] == "auth"


def test_upstream_400_is_the_callers_400(client: openai.OpenAI, upstream: LoopbackUpstream, mode: Mode) -> None:
    upstream.faults.add(Fault(status=400, message="max_tokens is too large"))
    with pytest.raises(openai.BadRequestError) as caught:
        _ask(client, mode)
    assert "max_tokens is too large" in caught.value.response.json()["error"]["message"]


def test_slow_upstream_is_504(client: openai.OpenAI, upstream: LoopbackUpstream, mode: Mode) -> None:
    upstream.faults.add(Fault(latency_ms=1500))
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(client, mode)
    assert caught.value.status_code == 504


@pytest.mark.parametrize(
    "fault", [Fault(drop_mid_stream=3), Fault(error_mid_stream=3, status_mid_stream=500)]
)
def test_stream_breaking_mid_way_ends_with_an_error_event(
    client: openai.OpenAI, upstream: LoopbackUpstream, fault: Fault
) -> None:
    upstream.faults.add(fault)
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="default", messages=USER, stream=True):  # type: ignore[arg-type]
            got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(got), repr(caught.value)  # some text arrived before the break
    assert caught.value.body is not None
    assert caught.value.body["type"] == "upstream_error"  # type: ignore[index]
