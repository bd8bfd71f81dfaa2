"""OpenAI-compatible provider against the loopback upstream, over real sockets."""

from __future__ import annotations

from typing import Any

import pytest
from tests.providers.provider_harness import KEY_ENV, SECRET, MakeProvider

from modelyard.config.models import ModelSpec
from modelyard.errors import ContentFilteredError
from modelyard.providers import ProviderContext, create_provider
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import ChatRequest, Family, Message, StreamChunk

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="


def _req(text: str = "hello loopback world", **kw: Any) -> ChatRequest:
    return ChatRequest.from_text(text, **kw)


async def _collect(provider: Any, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request, timeout=5)]


async def test_chat_translates_and_fills_response(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider("openai", price={"input": 1.0, "output": 2.0})
    request = _req(presence_penalty=0.5, logit_bias={"50256": -100}, temperature=0.2)
    request.hints.tenant = "acme"
    response = await provider.chat(request, timeout=5)

    assert response.text == "echo: hello loopback world"
    assert response.finish_reason == "stop"
    assert (response.model, response.provider, response.family) == ("loop-openai", "openai", Family.VLM)
    assert response.upstream_model == "openai-model-1"
    assert response.usage.input_tokens == 3 + 3 and response.usage.output_tokens == 4
    assert response.cost_usd == 6 / 1000 * 1.0 + 4 / 1000 * 2.0
    assert response.simulated is False

    (sent,) = upstream.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    body = sent.json()
    assert body["model"] == "openai-model-1"
    assert body["presence_penalty"] == 0.5 and body["logit_bias"] == {"50256": -100}
    assert body["temperature"] == 0.2
    assert "hints" not in body and "stream" not in body


async def test_stream_yields_same_text_and_usage_last(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider("openai")
    request = _req("one two three four five")
    whole = await provider.chat(request, timeout=5)
    chunks = await _collect(provider, request)

    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == whole.text
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].usage == whole.usage and chunks[-1].finish_reason == "stop"
    body = upstream.requests[-1].json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_images_pass_through_untouched(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("openai")
    parts = [
        {"type": "text", "text": "what is here"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    request = ChatRequest(messages=[{"role": "user", "content": parts}])
    response = await provider.chat(request, timeout=5)
    assert response.text == "echo: what is here [images: 2]"
    assert response.usage.images == 2
    sent = upstream.requests[-1].json()["messages"][0]["content"]
    assert sent == parts


async def test_embeddings_in_order(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("openai", family="mlm", price={"input": 1.0})
    out = await provider.embed(["alpha beta", "gamma", "alpha beta"], timeout=5)
    assert len(out.vectors) == 3 and all(len(v) == 8 for v in out.vectors)
    assert out.vectors[0] == out.vectors[2] != out.vectors[1]
    assert out.usage.input_tokens == 5 and out.cost_usd == 5 / 1000
    assert upstream.requests[-1].path == "/v1/embeddings"
    assert upstream.requests[-1].json()["input"] == ["alpha beta", "gamma", "alpha beta"]


async def test_logprobs_pass_through_both_ways(make_provider: MakeProvider) -> None:
    provider = make_provider("openai")
    request = _req("a b c", logprobs=True)
    response = await provider.chat(request, timeout=5)
    assert response.logprobs is not None and len(response.logprobs) == len(response.text.split())
    streamed = [lp for c in await _collect(provider, request) for lp in (c.logprobs or [])]
    assert streamed == response.logprobs


async def test_tool_call_round_trip(make_provider: MakeProvider) -> None:
    provider = make_provider("openai")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    request = _req("find cats", tools=tools)
    response = await provider.chat(request, timeout=5)
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls and response.tool_calls[0]["function"]["name"] == "lookup"

    chunks = await _collect(provider, request)
    deltas = [call for c in chunks for call in (c.tool_calls or [])]
    assert deltas[0]["function"]["name"] == "lookup"
    assert "".join(d["function"].get("arguments", "") for d in deltas) == '{"query":"find cats"}'
    assert chunks[-1].finish_reason == "tool_calls"

    follow = request.with_messages(
        [
            *request.messages,
            Message(role="assistant", content=None, tool_calls=response.tool_calls),
            Message(role="tool", tool_call_id=response.tool_calls[0]["id"], content="three cats"),
        ]
    )
    assert (await provider.chat(follow, timeout=5)).text == "tool said: three cats"


async def test_max_tokens_truncates_with_length(make_provider: MakeProvider) -> None:
    response = await make_provider("openai").chat(_req("a b c d e f", max_tokens=3), timeout=5)
    assert response.text == "echo: a b" and response.finish_reason == "length"


async def test_keyless_server_gets_no_authorization_header() -> None:
    async with LoopbackUpstream() as up:
        ctx = ProviderContext(env={})
        spec = ModelSpec(name="local", family="slm", provider="openai", base_url=up.url + "/v1/")
        provider = create_provider(spec, ctx)
        assert (await provider.chat(_req(), timeout=5)).text.startswith("echo:")
        assert "authorization" not in up.requests[0].headers
        assert up.requests[0].json()["model"] == "local"
        await ctx.aclose()


async def test_base_url_prefix_and_static_headers(
    upstream: LoopbackUpstream, make_provider: MakeProvider
) -> None:
    provider = make_provider(
        "openai", base_url=upstream.url + "/proxy/v1", headers={"OpenAI-Organization": "org-1"}
    )
    await provider.chat(_req(), timeout=5)
    sent = upstream.requests[-1]
    assert sent.path == "/proxy/v1/chat/completions"
    assert sent.headers["openai-organization"] == "org-1"
    assert KEY_ENV not in str(sent.headers)


async def test_missing_usage_is_estimated(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    """Some compatible servers send no usage; the cost must not silently become zero."""
    answer = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x" * 40}, "finish_reason": "stop"}
        ]
    }
    upstream.faults.add(Fault(body=answer))
    response = await make_provider("openai").chat(_req(), timeout=5)
    assert response.usage.output_tokens == 10 and response.usage.input_tokens > 0


async def test_structured_output_refusal_is_content_filtered(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    upstream.faults.add(Fault(body={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}))
    with pytest.raises(ContentFilteredError):
        await make_provider("openai").chat(_req(), timeout=5)
