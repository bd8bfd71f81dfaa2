"""The official OpenAI SDK against a running gateway: chat, streaming, embeddings, models."""

from __future__ import annotations

import math
from typing import Any

import openai

from tests.server.server_harness import Gateway

USER = [{"role": "user", "content": "Name three   rivers in Europe"}]


def test_chat_answers_with_model_route_and_cost(client: openai.OpenAI, gateway: Gateway) -> None:
    raw = client.chat.completions.with_raw_response.create(model="default", messages=USER)  # type: ignore[arg-type]
    completion = raw.parse()

    assert completion.choices[0].message.content == "[simulated sim-slm] echo: Name three rivers in Europe"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "sim-slm"
    assert completion.usage is not None and completion.usage.completion_tokens == 24
    extra: dict[str, Any] = completion.modelyard  # type: ignore[attr-defined]
    trace = gateway.traces.items[-1]
    assert extra["model"] == "sim-slm"
    assert extra["family"] == "slm"
    assert extra["route"] == ["default"]
    assert extra["reason"] == "fixed route to slm"
    assert extra["simulated"] is True
    assert extra["attempts"] == 1
    assert extra["request_id"] == trace.request_id
    assert math.isclose(extra["cost_usd"], trace.cost_usd) and trace.cost_usd > 0

    assert raw.headers["x-modelyard-model"] == "sim-slm"
    assert raw.headers["x-modelyard-route"] == "default"
    assert math.isclose(float(raw.headers["x-modelyard-cost-usd"]), trace.cost_usd)
    assert raw.headers["x-modelyard-simulated"] == "true"
    assert raw.headers["x-request-id"] == trace.request_id


def test_naming_a_model_directly_routes_direct(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="sim-slm-private", messages=USER)  # type: ignore[arg-type]
    assert raw.headers["x-modelyard-route"] == "direct"
    assert raw.parse().modelyard["route"] == []  # type: ignore[attr-defined]
    assert raw.parse().model == "sim-slm-private"


def test_missing_model_uses_the_gateway_default(gateway: Gateway) -> None:
    import httpx

    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json={"messages": USER})
    assert reply.status_code == 200
    assert reply.json()["modelyard"]["route"] == ["default"]


def test_streaming_text_equals_non_streaming_and_ends_with_usage(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    plain = client.chat.completions.create(model="default", messages=USER)  # type: ignore[arg-type]
    chunks = list(
        client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage == plain.usage
    assert last.modelyard["model"] == "sim-slm"  # type: ignore[attr-defined]
    assert last.modelyard["route"] == ["default"]  # type: ignore[attr-defined]
    assert math.isclose(last.modelyard["cost_usd"], gateway.traces.items[-1].cost_usd)  # type: ignore[attr-defined]
    assert gateway.traces.items[-1].stream is True
    assert len({c.id for c in chunks}) == 1


def test_streaming_without_usage_puts_modelyard_on_the_finish_chunk(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="default",
        messages=USER,  # type: ignore[arg-type]
        stream=True,
    ) as raw:
        assert raw.headers["x-modelyard-model"] == "sim-slm"
        assert raw.headers["x-modelyard-route"] == "default"
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].modelyard["model"] == "sim-slm"  # type: ignore[attr-defined]
    assert all(c.usage is None for c in chunks)


def test_extra_body_hints_change_the_route(client: openai.OpenAI, gateway: Gateway) -> None:
    cheapest = client.chat.completions.create(model="slm", messages=USER)  # type: ignore[arg-type]
    private = client.chat.completions.create(
        model="slm",
        messages=USER,  # type: ignore[arg-type]
        extra_body={"modelyard": {"privacy": "private", "tenant": "acme"}},
    )
    assert cheapest.model == "sim-slm"
    assert private.model == "sim-slm-private"
    assert gateway.traces.items[-1].tenant == "acme"


def test_header_hints_change_the_route(client: openai.OpenAI, gateway: Gateway) -> None:
    private = client.chat.completions.create(
        model="slm",
        messages=USER,  # type: ignore[arg-type]
        extra_headers={"x-modelyard-privacy": "private", "x-modelyard-tenant": "globex"},
    )
    assert private.model == "sim-slm-private"
    assert gateway.traces.items[-1].tenant == "globex"


# That hints never reach an upstream is checked against a real one in test_hints_not_forwarded.py.


def test_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    as_float = client.embeddings.create(model="sim-embed", input=["alpha", "beta"], encoding_format="float")
    default = client.embeddings.create(model="sim-embed", input=["alpha", "beta"])  # the SDK asks for base64
    single = client.embeddings.create(model="sim-embed", input="alpha", encoding_format="float")
    assert [d.index for d in as_float.data] == [0, 1]
    assert len(as_float.data[0].embedding) == 16
    assert math.isclose(sum(v * v for v in as_float.data[0].embedding), 1.0, rel_tol=1e-6)
    assert as_float.data[0].embedding != as_float.data[1].embedding
    for a, b in zip(as_float.data, default.data, strict=True):
        assert all(
            math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
            for x, y in zip(a.embedding, b.embedding, strict=True)
        )
    assert single.data[0].embedding == as_float.data[0].embedding
    assert as_float.model == "sim-embed"
    assert as_float.usage.prompt_tokens > 0
    assert as_float.modelyard["simulated"] is True  # type: ignore[attr-defined]


def test_models_lists_models_and_routers(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"sim-slm", "sim-slm-private", "sim-embed", "default"}
    assert models["sim-slm"].owned_by == "sim"
    assert models["default"].owned_by == "modelyard-router"
    assert models["sim-embed"].family == "mlm"  # type: ignore[attr-defined]
    assert client.models.retrieve("default").kind == "router"  # type: ignore[attr-defined]


def test_healthz(gateway: Gateway) -> None:
    import httpx

    reply = httpx.get(f"{gateway.url}/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "models": 3, "routers": 1}
    assert reply.headers["x-request-id"].startswith("req-")
