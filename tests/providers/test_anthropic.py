"""Anthropic provider: translation both ways, over real sockets to the loopback upstream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.providers.provider_harness import SECRET, MakeProvider

from modelyard.errors import BadRequestError, ConfigError, RequestError
from modelyard.testing import LoopbackUpstream
from modelyard.types import ChatRequest, Message, StreamChunk

PNG_B64 = "iVBORw0KGgoAAAANSUhEUg=="
TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "description": "find things", "parameters": {"type": "object"}},
    }
]


async def _collect(provider: Any, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request, timeout=5)]


async def test_chat_translates_request_and_response(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider("anthropic")
    request = ChatRequest(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "no jokes"},
            {"role": "user", "content": "first"},
            {"role": "user", "content": "hello there"},
        ],
        temperature=0.3,
        stop="END",
        user="u-1",
        top_k=5,
    )
    response = await provider.chat(request, timeout=5)
    assert response.text == "echo: first hello there"  # the two user turns arrive merged
    assert response.finish_reason == "stop" and response.provider == "anthropic"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens == 4

    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.json()
    assert body["system"] == "be brief\n\nno jokes"
    assert body["max_tokens"] == 1024
    assert body["model"] == "anthropic-model-1"
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.3
    assert body["metadata"] == {"user_id": "u-1"} and body["top_k"] == 5
    # consecutive user turns are merged into one message
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert [b["text"] for b in body["messages"][0]["content"]] == ["first", "hello there"]


async def test_max_tokens_from_request_then_spec(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    await make_provider("anthropic", max_output_tokens=77).chat(ChatRequest.from_text("hi"), timeout=5)
    assert upstream.requests[-1].json()["max_tokens"] == 77
    response = await make_provider("anthropic").chat(
        ChatRequest.from_text("a b c d", max_tokens=2), timeout=5
    )
    assert upstream.requests[-1].json()["max_tokens"] == 2
    assert response.finish_reason == "length" and response.text == "echo: a"


async def test_stream_matches_chat(make_provider: MakeProvider) -> None:
    provider = make_provider("anthropic")
    request = ChatRequest.from_text("streaming is the same as not streaming")
    whole = await provider.chat(request, timeout=5)
    chunks = await _collect(provider, request)
    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage == whole.usage and chunks[-1].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


async def test_images_become_base64_and_url_sources(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    parts = [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.webp"}},
    ]
    response = await make_provider("anthropic").chat(
        ChatRequest(messages=[{"role": "user", "content": parts}]), timeout=5
    )
    assert response.text == "echo: compare [images: 2]" and response.usage.images == 2
    blocks = upstream.requests[-1].json()["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/b.webp"}}


async def test_bad_data_uri_is_rejected_before_sending(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}}]
    with pytest.raises(RequestError, match="base64") as caught:
        await make_provider("anthropic").chat(
            ChatRequest(messages=[{"role": "user", "content": parts}]), timeout=5
        )
    assert caught.value.param == "messages[0].content[0].image_url" and caught.value.status_code == 400
    assert upstream.requests == []


async def test_tool_use_round_trip(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("anthropic")
    request = ChatRequest.from_text("find dogs", tools=TOOLS, tool_choice="required")
    response = await provider.chat(request, timeout=5)
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls or []
    assert call["function"]["name"] == "lookup" and json.loads(call["function"]["arguments"]) == {
        "query": "find dogs"
    }
    body = upstream.requests[-1].json()
    assert body["tools"] == [
        {"name": "lookup", "input_schema": {"type": "object"}, "description": "find things"}
    ]
    assert body["tool_choice"] == {"type": "any"}

    chunks = await _collect(provider, request)
    streamed = [c for ch in chunks for c in (ch.tool_calls or [])]
    assert streamed == [call] and chunks[-1].finish_reason == "tool_calls"

    follow = request.with_messages(
        [
            *request.messages,
            Message(role="assistant", content=None, tool_calls=response.tool_calls),
            Message(role="tool", tool_call_id=call["id"], content="two dogs"),
        ]
    )
    assert (await provider.chat(follow, timeout=5)).text == "tool said: two dogs"
    messages = upstream.requests[-1].json()["messages"]
    assert messages[1]["content"][0] == {
        "type": "tool_use",
        "id": call["id"],
        "name": "lookup",
        "input": {"query": "find dogs"},
    }
    assert messages[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "content": "two dogs",
    }


async def test_options_set_version_and_beta(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("anthropic", options={"anthropic_version": "2099-01-01", "beta": ["a-1", "b-2"]})
    await provider.chat(ChatRequest.from_text("x"), timeout=5)
    headers = upstream.requests[-1].headers
    assert headers["anthropic-version"] == "2099-01-01" and headers["anthropic-beta"] == "a-1,b-2"


def test_unknown_option_is_a_config_error(make_provider: MakeProvider) -> None:
    with pytest.raises(ConfigError, match=r"models\.loop-anthropic\.options"):
        make_provider("anthropic", options={"anthropic_verison": "typo"})


async def test_no_embeddings(make_provider: MakeProvider) -> None:
    with pytest.raises(BadRequestError, match="does not produce embeddings"):
        await make_provider("anthropic").embed(["x"], timeout=5)
