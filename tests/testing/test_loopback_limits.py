"""The loopback upstream refuses what the real APIs refuse, in their error shapes (a faithful adversary).

Each row is a body a translation bug could produce (the issue's two examples
among them: a whitespace-only stop sequence and ``media_type: image/jpg`` to
Anthropic), sent raw over a socket; the loopback must answer the real API's
status and error shape. The control rows show the same bodies, fixed, pass.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from modelyard.testing import LoopbackUpstream
from modelyard.testing.images import bmp, data_uri, gif, jpeg, png

JPEG_B64 = base64.b64encode(jpeg(8, 8)).decode()
PNG_B64 = base64.b64encode(png(8, 8)).decode()

ANTHROPIC = "/v1/messages"
GEMINI = "/v1beta/models/g:generateContent"
OPENAI = "/v1/chat/completions"


def claude(messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"model": "c", "max_tokens": 16, "messages": messages or [{"role": "user", "content": "hi"}], **extra}


def claude_image(media_type: str, data: str) -> dict[str, Any]:
    source = {"type": "base64", "media_type": media_type, "data": data}
    return claude([{"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image", "source": source}]}])


def tool_use(call_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": "f", "input": {}}]},
    ]


def gemini(**extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **extra}


def gpt(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


REFUSED = [
    (
        "anthropic-stop-newline",
        ANTHROPIC,
        claude(stop_sequences=["\n"]),
        "each stop sequence must contain non-whitespace",
    ),
    ("anthropic-stop-empty", ANTHROPIC, claude(stop_sequences=[""]), "each stop sequence must be non-empty"),
    ("anthropic-image-jpg", ANTHROPIC, claude_image("image/jpg", JPEG_B64), "media_type: Input should be 'image/jpeg'"),
    ("anthropic-image-mislabelled", ANTHROPIC, claude_image("image/png", JPEG_B64), "appears to be a image/jpeg image"),
    (
        "anthropic-image-over-5mb",
        ANTHROPIC,
        claude_image("image/png", base64.b64encode(png(1, 1) + bytes(4 * 1024 * 1024)).decode()),
        "image exceeds 5 MB maximum",
    ),
    (
        "anthropic-image-9000px",
        ANTHROPIC,
        claude_image("image/png", base64.b64encode(png(9000, 4)).decode()),
        "exceed max allowed size: 8000 pixels",
    ),
    (
        "anthropic-temperature",
        ANTHROPIC,
        claude(temperature=1.5),
        "temperature: Input should be less than or equal to 1",
    ),
    (
        "anthropic-tool-name",
        ANTHROPIC,
        claude(tools=[{"name": "web.search", "input_schema": {"type": "object"}}]),
        "tools.0.custom.name: String should match pattern",
    ),
    (
        "anthropic-roles-repeat",
        ANTHROPIC,
        claude([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
        "roles must alternate",
    ),
    (
        "anthropic-tool-use-id",
        ANTHROPIC,
        claude([*tool_use("call:1"), {"role": "user", "content": "?"}]),
        "tool_use.id: String should match pattern",
    ),
    (
        "anthropic-tool-use-unanswered",
        ANTHROPIC,
        claude([*tool_use("call_1"), {"role": "user", "content": "?"}]),
        "`tool_use` ids were found without `tool_result` blocks",
    ),
    (
        "anthropic-tool-result-orphan",
        ANTHROPIC,
        claude([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "r"}]}]),
        "unexpected `tool_use_id` found in `tool_result` blocks",
    ),
    (
        "anthropic-prefill-whitespace",
        ANTHROPIC,
        claude([{"role": "user", "content": "q"}, {"role": "assistant", "content": "Answer: "}]),
        "final assistant content cannot end with trailing whitespace",
    ),
    ("gemini-six-stops", GEMINI, gemini(generationConfig={"stopSequences": list("abcdef")}), "must not exceed 5"),
    (
        "gemini-gif",
        GEMINI,
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/gif", "data": "R0lG"}}]}]},
        "Unsupported MIME type: image/gif",
    ),
    (
        "gemini-function-name",
        GEMINI,
        gemini(tools=[{"functionDeclarations": [{"name": "1f"}]}]),
        "Invalid function name",
    ),
    (
        "gemini-role",
        GEMINI,
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        "Please use a valid role: user, model.",
    ),
    ("openai-five-stops", OPENAI, gpt(stop=list("abcde")), "Invalid 'stop': array too long"),
    ("openai-temperature", OPENAI, gpt(temperature=2.5), "decimal above maximum value"),
    (
        "openai-tool-name",
        OPENAI,
        gpt(tools=[{"type": "function", "function": {"name": "web.search"}}]),
        "does not match pattern",
    ),
    (
        "openai-bmp",
        OPENAI,
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri("image/bmp", bmp())}}]}
            ],
        },
        "You uploaded an unsupported image",
    ),
]

ACCEPTED = [
    ("anthropic-stop-visible", ANTHROPIC, claude(stop_sequences=["\nEND"])),
    ("anthropic-image-jpeg", ANTHROPIC, claude_image("image/jpeg", JPEG_B64)),
    ("anthropic-image-png", ANTHROPIC, claude_image("image/png", PNG_B64)),
    (
        "anthropic-tool-answered",
        ANTHROPIC,
        claude(
            [
                *tool_use("call_1"),
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "r"}]},
            ]
        ),
    ),
    ("gemini-newline-stop", GEMINI, gemini(generationConfig={"stopSequences": ["\n"] * 5})),
    ("gemini-function-name-dots", GEMINI, gemini(tools=[{"functionDeclarations": [{"name": "web.search:v1"}]}])),
    ("openai-four-stops", OPENAI, gpt(stop=list("abcd"))),
    (
        "openai-gif",
        OPENAI,
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri("image/gif", gif())}}]}
            ],
        },
    ),
]


@pytest.fixture
async def client() -> Any:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as c:
        yield c


@pytest.mark.parametrize(("path", "body", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_loopback_refuses_what_the_real_api_refuses(
    path: str, body: dict[str, Any], words: str, client: httpx.AsyncClient
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    if path == ANTHROPIC:
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    elif path == GEMINI:
        assert error["error"]["code"] == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert error["error"]["type"] == "invalid_request_error" and "code" in error["error"]
    assert words in error["error"]["message"]


@pytest.mark.parametrize(("path", "body"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED])
async def test_the_same_bodies_fixed_are_accepted(path: str, body: dict[str, Any], client: httpx.AsyncClient) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text


async def test_openai_compatible_dialects_do_not_impose_openais_own_limits() -> None:
    async with LoopbackUpstream(dialect="vllm") as up, httpx.AsyncClient(base_url=up.url) as c:
        response = await c.post(OPENAI, json=gpt(stop=list("abcdefg")))
    assert response.status_code == 200
