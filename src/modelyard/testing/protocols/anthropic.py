"""Anthropic's Messages API as the loopback upstream speaks it.

Validates what the real API insists on (``max_tokens``, roles, base64 image
data, and the limits in `modelyard.testing.protocols.limits`) so translation
mistakes fail loudly, and streams the full event
sequence: message_start, content blocks, ping, message_delta, message_stop.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from typing import Any

from modelyard.testing.protocols.common import Answer, ProtocolError, Reply, Turn, json_reply, pieces, sse
from modelyard.testing.protocols.limits import check_anthropic

__all__ = ["AnthropicProtocol"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


class AnthropicProtocol:
    name = "anthropic"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def parse_chat(self, body: Any) -> Turn:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise ProtocolError(400, "model: Field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise ProtocolError(400, "max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ProtocolError(400, "messages: at least one message is required")
        check_anthropic(body)
        turn = Turn(messages=len(messages), max_tokens=body["max_tokens"])
        system = body.get("system")
        if system:
            turn.texts.append(
                system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
            )
        for m in messages:
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("user", "assistant"):
                raise ProtocolError(
                    400,
                    f'messages: Unexpected role "{role}". Put system text in the top-level `system`',
                )
            text, result = self._blocks(m.get("content"), turn)
            turn.texts.append(text)
            if role == "user" and text:
                turn.user_text = text
            turn.tool_result = result if role == "user" else None
        choice = (body.get("tool_choice") or {}).get("type")
        if choice != "none":
            for tool in body.get("tools") or ():
                if not isinstance(tool.get("input_schema"), dict):
                    raise ProtocolError(400, "tools.0.input_schema: Field required")
                turn.tools.append(tool["name"])
        return turn

    def _blocks(self, content: Any, turn: Turn) -> tuple[str, str | None]:
        if isinstance(content, str):
            return content, None
        if not isinstance(content, list):
            raise ProtocolError(400, "messages.content: Input should be a valid list")
        texts: list[str] = []
        result: str | None = None
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if not block.get("text"):
                    raise ProtocolError(400, "messages: text content blocks must be non-empty")
                texts.append(block["text"])
            elif kind == "image":
                _check_image(block.get("source") or {})
                turn.images += 1
            elif kind == "tool_result":
                raw = block.get("content")
                result = raw if isinstance(raw, str) else " ".join(b.get("text", "") for b in raw or ())
            elif kind not in ("tool_use", "thinking"):
                raise ProtocolError(400, f"messages.content: unknown block type {kind!r}")
        return "\n".join(texts), result

    def chat_reply(
        self, model: str, body: dict[str, Any], turn: Turn, ans: Answer, *, stream: bool, filtered: bool
    ) -> Reply:
        mid = f"msg_loopback_{next(self._ids)}"
        stop = "refusal" if filtered else _STOP[ans.finish]
        text = "" if filtered else ans.text
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        if ans.tool_name and not filtered:
            blocks.append(
                {"type": "tool_use", "id": "toolu_loopback_0", "name": ans.tool_name, "input": ans.tool_args}
            )
        usage = {"input_tokens": ans.input_tokens, "output_tokens": ans.output_tokens}
        message: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_sequence": None,
        }
        if not stream:
            return json_reply({**message, "content": blocks, "stop_reason": stop, "usage": usage})
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": ans.input_tokens, "output_tokens": 1},
        }
        events = [sse({"type": "message_start", "message": start}, "message_start")]
        for index, block in enumerate(blocks):
            events.extend(_block_events(index, block))
            if index == 0:
                events.append(sse({"type": "ping"}, "ping"))
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": ans.output_tokens},
        }
        events.append(sse(delta, "message_delta"))
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return Reply(200, b"", events, {"content-type": "text/event-stream", "cache-control": "no-cache"})

    def error(
        self, status: int, message: str, code: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        kind = code or _ERROR_TYPES.get(status, "api_error")
        return json_reply({"type": "error", "error": {"type": kind, "message": message}}, status)

    def blocked_prompt(self, model: str, body: dict[str, Any], *, stream: bool) -> Reply:
        """Anthropic has no prompt-level block; the model refuses instead."""
        return self.chat_reply(model, body, Turn(), Answer("", "stop", 1, 0), stream=stream, filtered=True)

    def stream_error(self, status: int, message: str) -> bytes:
        kind = _ERROR_TYPES.get(status, "api_error")
        return sse({"type": "error", "error": {"type": kind, "message": message}}, "error")

    def context_error(self, tokens: int, window: int) -> ProtocolError:
        return ProtocolError(400, f"prompt is too long: {tokens} tokens > {window} maximum")

    def check_key(self, headers: dict[str, str], query: dict[str, str], key: str) -> ProtocolError | None:
        if headers.get("x-api-key") == key:
            return None
        return ProtocolError(401, "invalid x-api-key")


def _check_image(source: dict[str, Any]) -> None:
    if source.get("type") == "base64":
        if source.get("media_type") not in _IMAGE_TYPES:
            raise ProtocolError(400, f"image source media_type {source.get('media_type')!r} is not supported")
        try:
            base64.b64decode(source.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(400, "image source data is not valid base64") from None
    elif source.get("type") != "url" or not str(source.get("url", "")).startswith(("http://", "https://")):
        raise ProtocolError(400, "image source must be base64 data or an http(s) url")


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    start: dict[str, Any]
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = json.dumps(block["input"], separators=(",", ":"))
        half = len(raw) // 2
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in (raw[:half], raw[half:])]
    events = [
        sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
    ]
    events.extend(
        sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
        for d in deltas
    )
    events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return events
