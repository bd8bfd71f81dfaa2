"""Gemini provider: translation both ways, over real sockets to the loopback upstream."""

from __future__ import annotations

from typing import Any

import pytest
from tests.providers.provider_harness import SECRET, MakeProvider

from modelyard.errors import ConfigError
from modelyard.testing import LoopbackUpstream
from modelyard.types import ChatRequest, Message, StreamChunk

PNG_B64 = "iVBORw0KGgoAAAANSUhEUg=="


async def _collect(provider: Any, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request, timeout=5)]


async def test_chat_translates_request_and_response(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider("gemini")
    request = ChatRequest(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hello gemini"},
        ],
        temperature=0.4,
        top_p=0.9,
        max_tokens=50,
        stop=["END"],
        seed=7,
        response_format={"type": "json_object"},
    )
    response = await provider.chat(request, timeout=5)
    assert response.text == "echo: hello gemini" and response.finish_reason == "stop"
    assert response.usage.output_tokens == 3 and response.upstream_model == "gemini-model-1"

    sent = upstream.requests[-1]
    assert sent.path == "/v1beta/models/gemini-model-1:generateContent"
    assert sent.headers["x-goog-api-key"] == SECRET
    assert sent.query == {} and SECRET not in sent.path
    body = sent.json()
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {
        "temperature": 0.4,
        "topP": 0.9,
        "maxOutputTokens": 50,
        "seed": 7,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
    }


async def test_stream_matches_chat(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("gemini")
    request = ChatRequest.from_text("the stream ends lines with CRLF")
    whole = await provider.chat(request, timeout=5)
    chunks = await _collect(provider, request)
    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage == whole.usage and chunks[-1].finish_reason == "stop"
    sent = upstream.requests[-1]
    assert sent.path.endswith(":streamGenerateContent") and sent.query == {"alt": "sse"}


async def test_images_become_inline_and_file_data(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/p.png?x=1"}},
    ]
    response = await make_provider("gemini").chat(
        ChatRequest(messages=[{"role": "user", "content": parts}]), timeout=5
    )
    assert response.text == "echo: look [images: 2]" and response.usage.images == 2
    sent = upstream.requests[-1].json()["contents"][0]["parts"]
    # labelled JPEG, but the bytes are a PNG: sent as what it is
    assert sent[1] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    assert sent[2] == {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/p.png?x=1"}}


async def test_embeddings_via_batch_embed(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    out = await make_provider("gemini", family="mlm").embed(["one", "two", "one"], timeout=5)
    assert len(out.vectors) == 3 and out.vectors[0] == out.vectors[2] != out.vectors[1]
    sent = upstream.requests[-1]
    assert sent.path == "/v1beta/models/gemini-model-1:batchEmbedContents"
    assert sent.json()["requests"][0] == {
        "model": "models/gemini-model-1",
        "content": {"parts": [{"text": "one"}]},
    }


async def test_function_call_round_trip(make_provider: MakeProvider, upstream: LoopbackUpstream) -> None:
    provider = make_provider("gemini")
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    request = ChatRequest.from_text(
        "in Oslo", tools=tools, tool_choice={"type": "function", "function": {"name": "weather"}}
    )
    response = await provider.chat(request, timeout=5)
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls or []
    assert call["function"] == {"name": "weather", "arguments": '{"query": "in Oslo"}'}
    body = upstream.requests[-1].json()
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "weather", "parameters": {"type": "object"}}]}
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    streamed = [c for ch in await _collect(provider, request) for c in (ch.tool_calls or [])]
    assert [c["function"]["name"] for c in streamed] == ["weather"]

    follow = request.with_messages(
        [
            *request.messages,
            Message(role="assistant", content=None, tool_calls=response.tool_calls),
            Message(role="tool", tool_call_id=call["id"], content="sunny"),
        ]
    )
    assert (await provider.chat(follow, timeout=5)).text == "tool said: sunny"
    contents = upstream.requests[-1].json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "weather", "args": {"query": "in Oslo"}}}],
    }
    assert contents[2]["parts"][0] == {
        "functionResponse": {"name": "weather", "response": {"content": "sunny"}}
    }


async def test_model_prefix_and_api_version_option(
    make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider("gemini", upstream_model="models/gemini-x", options={"api_version": "v1"})
    await provider.chat(ChatRequest.from_text("x"), timeout=5)
    assert upstream.requests[-1].path == "/v1/models/gemini-x:generateContent"


def test_unknown_option_is_a_config_error(make_provider: MakeProvider) -> None:
    with pytest.raises(ConfigError, match=r"models\.loop-gemini\.options"):
        make_provider("gemini", options={"version": "v1"})
