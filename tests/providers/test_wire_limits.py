"""Translations the provider accepts (issue 9, class 4): one table over real sockets.

Each row is a request valid in OpenAI's shape and what the chosen provider
must do with it: send a lossless equivalent the (strict) loopback accepts, or
refuse it with a 400 naming the field before any upstream call. The issue's
two examples are rows: ``stop: ["\\n"]`` to Anthropic, and a
``data:image/jpg;base64,…`` part to Anthropic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.providers.provider_harness import MakeProvider

from modelyard.errors import RequestError
from modelyard.testing import LoopbackUpstream
from modelyard.testing.images import bmp, data_uri, gif, heic, jpeg, webp
from modelyard.types import ChatRequest

JPEG = jpeg(64, 48)
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def user(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts) if parts else "hi"}]


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def tool_turns(call_id: str, *, answer: bool = True, follow: str | None = None) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    turns: list[dict[str, Any]] = [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]
    if answer:
        turns.append({"role": "tool", "tool_call_id": call_id, "content": "found"})
    if follow:
        turns.append({"role": "user", "content": follow})
    return turns


@dataclass(frozen=True)
class Row:
    id: str
    provider: str
    request: dict[str, Any]
    param: str | None = None  # refused: the 400 names this field
    sent: Callable[[dict[str, Any]], Any] | None = None  # accepted: what the upstream got ...
    expected: Any = None  # ... equals this
    options: dict[str, Any] = field(default_factory=dict)


def anthropic_blocks(body: dict[str, Any]) -> Any:
    return body["messages"][0]["content"]


ROWS = [
    # -- Anthropic: stop sequences ------------------------------------------------------------------
    Row("anthropic-stop-newline-issue-example", "anthropic", {"messages": user(), "stop": ["\n"]}, "stop[0]"),
    Row("anthropic-stop-whitespace-string", "anthropic", {"messages": user(), "stop": " \t"}, "stop"),
    Row("anthropic-stop-second-is-blank", "anthropic", {"messages": user(), "stop": ["END", "\r\n"]}, "stop[1]"),
    Row("anthropic-stop-empty", "anthropic", {"messages": user(), "stop": [""]}, "stop[0]"),
    Row(
        "anthropic-stop-duplicates-dropped",
        "anthropic",
        {"messages": user(), "stop": ["END", "END", "\nEND"]},
        sent=lambda b: b["stop_sequences"],
        expected=["END", "\nEND"],
    ),
    # -- Anthropic: images --------------------------------------------------------------------------
    Row(
        "anthropic-image-jpg-issue-example",
        "anthropic",
        {"messages": user(text("see"), image(data_uri("image/jpg", JPEG)))},
        sent=lambda b: anthropic_blocks(b)[1]["source"]["media_type"],
        expected="image/jpeg",
    ),
    Row(
        "anthropic-image-mislabelled-png-is-jpeg",
        "anthropic",
        {"messages": user(text("see"), image(data_uri("image/png", JPEG)))},
        sent=lambda b: anthropic_blocks(b)[1]["source"]["media_type"],
        expected="image/jpeg",
    ),
    Row(
        "anthropic-image-webp-kept",
        "anthropic",
        {"messages": user(text("see"), image(data_uri("image/webp", webp(10, 10))))},
        sent=lambda b: anthropic_blocks(b)[1]["source"]["media_type"],
        expected="image/webp",
    ),
    Row(
        "anthropic-image-bmp",
        "anthropic",
        {"messages": user(text("see"), image(data_uri("image/bmp", bmp())))},
        "messages[0].content[1].image_url",
    ),
    Row(
        "anthropic-image-heic",
        "anthropic",
        {"messages": user(image(data_uri("image/heic", heic())))},
        "messages[0].content[0].image_url",
    ),
    Row(
        "anthropic-image-ftp-url",
        "anthropic",
        {"messages": user(image("ftp://example.com/a.png"))},
        "messages[0].content[0].image_url",
    ),
    # -- Anthropic: sampling, tools, turns ----------------------------------------------------------
    Row("anthropic-temperature-above-1", "anthropic", {"messages": user(), "temperature": 1.5}, "temperature"),
    Row(
        "anthropic-tool-name-with-dot",
        "anthropic",
        {"messages": user(), "tools": [{"type": "function", "function": {"name": "web.search"}}]},
        "tools[0].function.name",
    ),
    Row(
        "anthropic-tool-call-id-renamed",
        "anthropic",
        {"messages": tool_turns("call:1/2"), "tools": [TOOL]},
        sent=lambda b: b["messages"][1]["content"][0]["id"] == b["messages"][2]["content"][0]["tool_use_id"],
        expected=True,
    ),
    Row(
        "anthropic-tool-result-without-call",
        "anthropic",
        {"messages": [*user(), {"role": "tool", "tool_call_id": "nope", "content": "x"}]},
        "messages[1].tool_call_id",
    ),
    Row(
        "anthropic-tool-call-without-result",
        "anthropic",
        {"messages": tool_turns("call_1", answer=False, follow="and?"), "tools": [TOOL]},
        "messages[1].tool_calls[0].id",
    ),
    Row(
        "anthropic-prefill-trailing-space",
        "anthropic",
        {"messages": [*user(), {"role": "assistant", "content": "Answer: "}]},
        "messages[1].content",
    ),
    Row(
        "anthropic-system-only",
        "anthropic",
        {"messages": [{"role": "system", "content": "be brief"}]},
        "messages",
    ),
    Row(
        "anthropic-consecutive-users-merged",
        "anthropic",
        {"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]},
        sent=lambda b: [m["role"] for m in b["messages"]],
        expected=["user"],
    ),
    # -- Gemini ---------------------------------------------------------------------------------------
    Row(
        "gemini-six-stop-sequences",
        "gemini",
        {"messages": user(), "stop": ["a", "b", "c", "d", "e", "f"]},
        "stop",
    ),
    Row(
        "gemini-duplicates-dropped-to-five",
        "gemini",
        {"messages": user(), "stop": ["a", "b", "a", "c", "d", "e"]},
        sent=lambda b: b["generationConfig"]["stopSequences"],
        expected=["a", "b", "c", "d", "e"],
    ),
    Row(
        "gemini-newline-stop-kept",
        "gemini",
        {"messages": user(), "stop": ["\n"]},
        sent=lambda b: b["generationConfig"]["stopSequences"],
        expected=["\n"],
    ),
    Row(
        "gemini-gif",
        "gemini",
        {"messages": user(image(data_uri("image/gif", gif())))},
        "messages[0].content[0].image_url",
    ),
    Row(
        "gemini-image-jpg",
        "gemini",
        {"messages": user(image(data_uri("image/jpg", JPEG)))},
        sent=lambda b: b["contents"][0]["parts"][0]["inlineData"]["mimeType"],
        expected="image/jpeg",
    ),
    Row(
        "gemini-tool-name-starting-with-digit",
        "gemini",
        {"messages": user(), "tools": [{"type": "function", "function": {"name": "1lookup"}}]},
        "tools[0].function.name",
    ),
    Row(
        "gemini-tool-name-with-dot-and-colon-kept",
        "gemini",
        {"messages": user(), "tools": [{"type": "function", "function": {"name": "web.search:v2"}}]},
        sent=lambda b: b["tools"][0]["functionDeclarations"][0]["name"],
        expected="web.search:v2",
    ),
    Row("gemini-system-only", "gemini", {"messages": [{"role": "system", "content": "x"}]}, "messages"),
    # -- OpenAI's own API (strict) ----------------------------------------------------------------------
    Row(
        "openai-five-stop-sequences",
        "openai",
        {"messages": user(), "stop": ["a", "b", "c", "d", "e"]},
        "stop",
        options={"strict": True},
    ),
    Row(
        "openai-duplicates-dropped-to-four",
        "openai",
        {"messages": user(), "stop": ["a", "b", "c", "d", "a"]},
        sent=lambda b: b["stop"],
        expected=["a", "b", "c", "d"],
        options={"strict": True},
    ),
    Row(
        "openai-bmp-image",
        "openai",
        {"messages": user(image(data_uri("image/bmp", bmp())))},
        "messages[0].content[0].image_url",
        options={"strict": True},
    ),
    Row(
        "openai-tool-name-with-dot",
        "openai",
        {"messages": user(), "tools": [{"type": "function", "function": {"name": "web.search"}}]},
        "tools[0].function.name",
        options={"strict": True},
    ),
    Row(
        "openai-image-jpg-relabelled",
        "openai",
        {"messages": user(image(data_uri("image/jpg", JPEG)))},
        sent=lambda b: b["messages"][0]["content"][0]["image_url"]["url"],
        expected=data_uri("image/jpeg", JPEG),
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_translation_table(
    row: Row, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    provider = make_provider(row.provider, options=row.options)
    request = ChatRequest.model_validate(row.request)
    if row.param is not None:
        with pytest.raises(RequestError) as caught:
            await _call(provider, request, stream)
        err = caught.value
        assert err.param == row.param and err.status_code == 400
        assert str(err).startswith(f"{row.param}: ") and row.provider in str(err)
        assert upstream.requests == []  # refused before any upstream call
        return
    await _call(provider, request, stream)  # the strict loopback accepted it
    assert row.sent is not None
    assert row.sent(upstream.requests[-1].json()) == row.expected


async def _call(provider: Any, request: ChatRequest, stream: bool) -> None:
    if stream:
        async for _ in provider.stream(request, timeout=10):
            pass
    else:
        await provider.chat(request, timeout=10)


async def test_openai_compatible_servers_keep_their_own_limits(make_provider: MakeProvider) -> None:
    """Not strict (a vLLM-like upstream): five stop sequences go through; OpenAI's limit is not imposed."""
    async with LoopbackUpstream(dialect="vllm") as lax:
        provider = make_provider("openai", base_url=lax.url + "/v1")
        await provider.chat(ChatRequest.model_validate({"messages": user(), "stop": list("abcde")}), timeout=5)
        assert lax.requests[-1].json()["stop"] == list("abcde")


async def test_strict_defaults_to_api_openai_com(make_provider: MakeProvider) -> None:
    assert make_provider("openai", base_url="https://api.openai.com/v1").strict is True  # type: ignore[attr-defined]
    assert make_provider("openai").strict is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stop": ["\n"]}, "stop[0]"),
        ({"temperature": 1.7}, "temperature"),
        ({"tools": [{"type": "function", "function": {"name": "web.search"}}]}, "tools[0].function.name"),
    ],
    ids=["stop", "temperature", "tool-name"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_the_gateway_answers_400_naming_the_field(extra: dict[str, Any], param: str, stream: bool) -> None:
    """Through the gateway with the official SDK: OpenAI's error shape, ``param`` set, nothing sent upstream."""
    import openai
    from tests.server.server_harness import running

    with LoopbackUpstream.running_in_thread() as up:
        config = f"""
version: 1
models:
  claude: {{family: llm, provider: anthropic, base_url: "{up.url}"}}
routers:
  default: {{kind: fixed, target: claude}}
"""
        with running(config) as gateway, gateway.client() as client:
            kwargs: dict[str, Any] = {"model": "claude", "messages": user(), **extra}
            with pytest.raises(openai.BadRequestError) as caught:
                if stream:
                    list(client.chat.completions.create(stream=True, **kwargs))
                else:
                    client.chat.completions.create(**kwargs)
        error = caught.value.response.json()["error"]
        assert caught.value.status_code == 400 and error["type"] == "invalid_request_error"
        assert error["param"] == param and error["message"].startswith(f"{param}: anthropic")
        assert up.requests == []
