"""Errors leave the gateway in OpenAI's shape, with the status the SDK maps to the right exception."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.server.server_harness import SIM_CONFIG, Gateway, running

USER = [{"role": "user", "content": "hello"}]


def _body(exc: openai.APIStatusError) -> dict[str, Any]:
    payload = exc.response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    return payload["error"]  # type: ignore[no-any-return]


def test_missing_messages_is_400_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="default", messages=[])
    error = _body(caught.value)
    assert caught.value.status_code == 400
    assert error["param"] == "messages"
    assert error["type"] == "invalid_request_error"


def test_absent_messages_is_400(gateway: Gateway) -> None:
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "default"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "messages"
    assert "required" in reply.json()["error"]["message"]


def test_temperature_out_of_range_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="default", messages=USER, temperature=5)  # type: ignore[arg-type]
    error = _body(caught.value)
    assert error["param"] == "temperature"
    assert error["message"].startswith("temperature: must be ≤ 2")


def test_bad_message_role_names_the_nested_path(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="default",
            messages=[*USER, {"role": "robot", "content": "x"}],  # type: ignore[list-item]
        )
    assert _body(caught.value)["param"] == "messages[1].role"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b"", "empty")],
)
def test_malformed_bodies_are_400(gateway: Gateway, content: bytes, message: str) -> None:
    reply = httpx.post(
        f"{gateway.url}/v1/chat/completions", content=content, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert reply.json()["error"]["code"] == "invalid_json"


def test_body_over_the_limit_is_413(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(SIM_CONFIG + "gateway:\n  max_request_bytes: 200\n")
    big = [{"role": "user", "content": "x" * 500}]
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "default", "messages": big})
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"
    # without a content-length (chunked upload) the limit holds too
    chunked = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=iter([b'{"messages": [{"role": "user", "content": "', b"x" * 500, b'"}]}']),
    )
    assert chunked.status_code == 413
    small = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "default", "messages": USER})
    assert small.status_code == 200


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=USER)  # type: ignore[arg-type]
    error = _body(caught.value)
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "gpt-nope" in error["message"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


def test_unknown_path_is_404_in_openai_shape(gateway: Gateway) -> None:
    reply = httpx.get(f"{gateway.url}/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found_error"


def test_invalid_hint_header_is_400_naming_the_header(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            extra_headers={"x-modelyard-latency-budget-ms": "soon"},
        )
    error = _body(caught.value)
    assert error["param"] == "x-modelyard-latency-budget-ms"
    assert "soon" in error["message"]


def test_invalid_body_hint_is_400_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            extra_body={"modelyard": {"privacy": "secret"}},
        )
    assert _body(caught.value)["param"] == "modelyard.privacy"
    with pytest.raises(openai.BadRequestError) as typo:
        client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            extra_body={"modelyard": {"privancy": "private"}},
        )
    assert _body(typo.value)["param"] == "modelyard.privancy"


def test_token_array_embeddings_are_refused_clearly(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="sim-embed", input=[[1, 2, 3]])
    error = _body(caught.value)
    assert error["param"] == "input"
    assert "token-array" in error["message"]


def test_n_above_the_gateway_limit_is_400_naming_n(client: openai.OpenAI) -> None:
    """n > 1 is served (tests/server/test_choices.py); above ``gateway.max_n`` (default 8) it is a 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="default", messages=USER, n=9)  # type: ignore[arg-type]
    error = _body(caught.value)
    assert error["param"] == "n" and "gateway.max_n = 8" in error["message"]
    assert len(client.chat.completions.create(model="default", messages=USER, n=8).choices) == 8  # type: ignore[arg-type]


FAILING = """
version: 1
models:
  limited:
    family: slm
    provider: sim
    options: {failure_rate: 1.0, failure_kind: rate_limited}
  broken:
    family: slm
    provider: sim
    options: {failure_rate: 1.0, failure_kind: server}
  garbled:
    family: slm
    provider: sim
    options: {failure_rate: 1.0, failure_kind: malformed}
  slow:
    family: slm
    provider: sim
    timeout_s: 0.05
    options: {latency_ms: 2000}
routers:
  default:
    kind: fixed
    target: limited
resilience:
  breaker: {enabled: false}  # these tests look at one failure at a time
"""


@pytest.fixture(scope="module")
def failing() -> Iterator[Gateway]:
    with running(FAILING) as gw:
        yield gw


def test_upstream_429_is_429_with_retry_after(failing: Gateway) -> None:
    with failing.client() as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="limited", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert _body(caught.value)["code"] == "rate_limited"


@pytest.mark.parametrize(
    ("model", "status", "code"), [("broken", 502, "server"), ("garbled", 502, "malformed")]
)
def test_upstream_failures_are_502(failing: Gateway, model: str, status: int, code: str) -> None:
    with failing.client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    error = _body(caught.value)
    assert error["type"] == "upstream_error"
    assert error["code"] == code


def test_upstream_timeout_is_504(failing: Gateway) -> None:
    with failing.client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="slow", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 504
    assert _body(caught.value)["code"] == "timeout"


def test_no_fitting_model_is_503(failing: Gateway) -> None:
    with failing.client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="llm", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    assert _body(caught.value)["type"] == "routing_error"


def test_stream_that_fails_before_the_first_byte_gets_a_real_status(failing: Gateway) -> None:
    with failing.client() as client, pytest.raises(openai.InternalServerError) as caught:
        list(client.chat.completions.create(model="broken", messages=USER, stream=True))  # type: ignore[arg-type]
    assert caught.value.status_code == 502
