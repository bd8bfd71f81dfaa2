"""`ChatRequest.has_image` and `estimate_input_tokens` (plain loops, asked many times per request)
agree with their definitions: any message with an image part; ~4 characters a token plus 4 per message."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.types import ChatRequest

IMG = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}


def _reference(request: ChatRequest) -> tuple[bool, int]:
    has_image = any(m.images for m in request.messages)
    chars = sum(len(m.text) for m in request.messages)
    return has_image, max(1, chars // 4) + 4 * len(request.messages)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMG]}],
        [{"role": "user", "content": [IMG]}],
        [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "bcd" * 50}]}],
        [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            {"role": "tool", "content": "42", "tool_call_id": "1"},
        ],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": "日本語のテキスト" * 30}, {"role": "user", "content": [IMG, IMG]}],
    ],
)
def test_shape_estimates_match_their_definitions(messages: list[dict[str, Any]]) -> None:
    request = ChatRequest.model_validate({"model": "m", "messages": messages})
    assert (request.has_image, request.estimate_input_tokens()) == _reference(request)
    changed = request.with_messages([*request.messages, *request.messages])  # a copy recomputes
    assert (changed.has_image, changed.estimate_input_tokens()) == _reference(changed)
