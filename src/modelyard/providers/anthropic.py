"""Anthropic's Messages API, translated from and to the OpenAI shape.

System and developer messages become ``system``; images become base64 or URL
source blocks; tool calls become ``tool_use`` blocks and tool results
``tool_result`` blocks. ``max_tokens`` is mandatory upstream, so it defaults to
the model's ``max_output_tokens`` or 1024.

What the Messages API would refuse is settled here, before sending
(`modelyard.providers.wire_limits.ANTHROPIC`): lossless fixes are made
(``image/jpg`` → ``image/jpeg``, the media type the image bytes really have,
consecutive same-role turns merged, duplicate stop sequences dropped, tool
call ids outside ``[a-zA-Z0-9_-]`` renamed consistently), the rest is a 400
naming the field (whitespace-only stop sequences, temperature above 1, tool
names with dots, unsupported image types, tool results without their
call, a final assistant turn ending in whitespace, no user turn at all).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import ConnectionFailedError, ContentFilteredError
from modelyard.providers.http import HTTPProvider, SSEEvent
from modelyard.providers.translate import InlineImage, function_tools, openai_tool_call, tool_call_arguments
from modelyard.providers.wire_limits import ANTHROPIC, reject
from modelyard.types import ChatRequest, ChatResponse, Message, StreamChunk, TextPart, Usage

__all__ = ["AnthropicOptions", "AnthropicProvider"]

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}
#: Error ``type`` in a stream ``error`` event → the HTTP status Anthropic uses for it.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
#: OpenAI-shaped extras that mean the same thing to Anthropic and pass through.
_PASSTHROUGH = ("top_k", "thinking", "metadata", "service_tier")


class AnthropicOptions(BaseModel):
    """``options:`` of a ``provider: anthropic`` model."""

    model_config = ConfigDict(extra="forbid")
    anthropic_version: str = "2023-06-01"
    beta: list[str] = Field(default_factory=list, description="values for the anthropic-beta header")


class AnthropicProvider(HTTPProvider):
    """Claude models over ``/v1/messages``, plain and streamed."""

    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(AnthropicOptions)
        self._static_headers["anthropic-version"] = self.options.anthropic_version
        if self.options.beta:
            self._static_headers["anthropic-beta"] = ",".join(self.options.beta)

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"x-api-key": key} if key else {}

    # -- OpenAI → Anthropic ------------------------------------------------------

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The Messages API body; `modelyard.errors.RequestError` (400) for what Anthropic would refuse."""
        ANTHROPIC.sampling(request)
        ANTHROPIC.tool_names(request)
        stop = ANTHROPIC.stop(request)
        images = ANTHROPIC.images(request)
        system, messages = _messages(request.messages, images)
        try:
            tools = [
                {"name": t.name, "input_schema": t.parameters}
                | ({"description": t.description} if t.description else {})
                for t in function_tools(request.tools)
            ]
        except ValueError as exc:
            reject("tools", str(exc), code="invalid_value")
        body: dict[str, Any] = {
            "model": self.spec.wire_model,
            "max_tokens": request.output_token_limit or self.spec.max_output_tokens or 1024,
            "messages": messages,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if stop:
            body["stop_sequences"] = stop
        if tools:
            body["tools"] = tools
            choice = _tool_choice(request.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
        if request.user:
            body["metadata"] = {"user_id": request.user}
        extra = request.model_extra or {}
        body.update({k: extra[k] for k in _PASSTHROUGH if k in extra})
        if stream:
            body["stream"] = True
        return body

    # -- Anthropic → OpenAI ------------------------------------------------------

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        data = await self.post_json("/v1/messages", self.build_body(request, stream=False), timeout=timeout)
        return self.finish(self.parse_response(data, request))

    def parse_response(self, data: Any, request: ChatRequest) -> ChatResponse:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise self.malformed("message without a content list")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in data["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use":
                calls.append(
                    openai_tool_call(len(calls), block["id"], block["name"], block.get("input") or {})
                )
        finish = self._finish_reason(data.get("stop_reason"))
        return ChatResponse(
            model=self.spec.name,
            provider=self.kind,
            text="".join(texts),
            finish_reason=finish,
            tool_calls=calls or None,
            usage=_usage(data.get("usage"), Usage(images=len(request.images))),
            upstream_model=data.get("model"),
        )

    def _finish_reason(self, stop_reason: Any) -> str:
        if stop_reason == "refusal":
            raise self.error(
                ContentFilteredError, f"{self.kind} upstream refused to answer for {self.spec.name!r}"
            )
        return _STOP_REASONS.get(str(stop_reason), "stop")

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        usage = Usage(images=len(request.images))
        finish: str | None = None
        tools: dict[int, dict[str, Any]] = {}
        finished = False
        body = self.build_body(request, stream=True)
        # Closed here, not by the garbage collector, so its connection is back in the pool
        # before the last chunk goes out.
        async with aclosing(self.stream_events("/v1/messages", body, timeout=timeout, last=_is_stop)) as events:
            async for event in events:
                data = self.decode(event.data)
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield StreamChunk(text=delta["text"])
                    elif delta.get("type") == "input_json_delta" and data.get("index") in tools:
                        tools[data["index"]]["json"] += delta.get("partial_json", "")
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "text" and block.get("text"):
                        yield StreamChunk(text=block["text"])
                    elif block.get("type") == "tool_use":
                        tools[data.get("index", len(tools))] = {
                            "id": block.get("id"),
                            "name": block.get("name"),
                            "json": "",
                        }
                elif kind == "content_block_stop" and data.get("index") in tools:
                    call = tools[data["index"]]
                    n = list(tools).index(data["index"])
                    args = self.decode(call["json"] or "{}")  # re-encoded so both paths match
                    yield StreamChunk(tool_calls=[openai_tool_call(n, call["id"], call["name"], args)])
                elif kind == "message_start":
                    usage = _usage((data.get("message") or {}).get("usage"), usage)
                elif kind == "message_delta":
                    usage = _usage(data.get("usage"), usage)
                    if (data.get("delta") or {}).get("stop_reason"):
                        finish = self._finish_reason(data["delta"]["stop_reason"])
                elif kind == "message_stop":
                    finished = True
                    break
                elif kind == "error":
                    status = _ERROR_STATUS.get(str((data.get("error") or {}).get("type")), 500)
                    raise self.status_error(status, {}, event.data.encode())
                elif kind is None:
                    raise self.malformed("stream event without a type")
        if not finished:
            raise self.error(
                ConnectionFailedError, f"{self.kind} upstream for {self.spec.name!r} ended the stream early"
            )
        yield StreamChunk(finish_reason=finish or "stop", usage=usage)


def _is_stop(event: SSEEvent) -> bool:
    """Anthropic's end of answer: ``event: message_stop`` (or its ``type`` in the data)."""
    return event.event == "message_stop" or '"message_stop"' in event.data


def _messages(
    messages: list[Message], images: dict[tuple[int, int], InlineImage | None]
) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Anthropic turns): roles alternate, tool results answer the calls just before them."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    ids = _ToolIds()
    open_calls: dict[str, tuple[int, int]] = {}  # tool call id → (message, call) still waiting for a result
    for i, m in enumerate(messages):
        blocks: list[dict[str, Any]]
        if m.role in ("system", "developer"):
            system.append(m.text)
            continue
        if m.role == "tool":
            role = "user"
            call_id = m.tool_call_id or ""
            if call_id not in open_calls:
                reject(
                    f"messages[{i}].tool_call_id",
                    "anthropic needs each tool result right after the assistant turn that called it; "
                    f"no open tool call has id {call_id!r}",
                )
            del open_calls[call_id]
            blocks = [{"type": "tool_result", "tool_use_id": ids.get(call_id), "content": m.text}]
        else:
            _all_answered(open_calls)
            role = "assistant" if m.role == "assistant" else "user"
            blocks = _content_blocks(m, i, images)
            for j, call in enumerate(m.tool_calls or ()):
                call_id = str(call.get("id") or "")
                try:
                    arguments = tool_call_arguments(call)
                except ValueError as exc:
                    reject(f"messages[{i}].tool_calls[{j}].function.arguments", str(exc), code="invalid_value")
                name = (call.get("function") or {}).get("name") or ""
                blocks.append({"type": "tool_use", "id": ids.get(call_id), "name": name, "input": arguments})
                open_calls[call_id] = (i, j)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)  # consecutive same-role turns are one turn
        else:
            out.append({"role": role, "content": blocks})
    _all_answered(open_calls)
    if not out:
        reject("messages", "anthropic needs at least one user or assistant message besides the system text")
    last = out[-1]["content"][-1]
    if out[-1]["role"] == "assistant" and last["type"] == "text" and last["text"] != last["text"].rstrip():
        reject(
            f"messages[{_last_turn(messages)}].content",
            "anthropic does not accept a final assistant turn (a prefill) that ends in whitespace",
        )
    return "\n\n".join(s for s in system if s), out


def _last_turn(messages: list[Message]) -> int:
    return max(i for i, m in enumerate(messages) if m.role not in ("system", "developer"))


def _all_answered(open_calls: dict[str, tuple[int, int]]) -> None:
    """Anthropic needs every tool call answered in the very next turn."""
    for i, j in open_calls.values():
        reject(f"messages[{i}].tool_calls[{j}].id", "anthropic needs a tool result for every tool call, next")


class _ToolIds:
    """Tool call ids as Anthropic accepts them (``^[a-zA-Z0-9_-]+$``): kept when valid, else renamed
    to a stable id, the same for the call and its result (ids are opaque, so this is lossless)."""

    _VALID = re.compile(r"[a-zA-Z0-9_-]+")

    def __init__(self) -> None:
        self._renamed: dict[str, str] = {}

    def get(self, call_id: str) -> str:
        if self._VALID.fullmatch(call_id):
            return call_id
        if call_id not in self._renamed:
            digest = hashlib.sha256(call_id.encode()).hexdigest()[:24]
            self._renamed[call_id] = f"toolu_my_{digest}"
        return self._renamed[call_id]


def _content_blocks(
    message: Message, index: int, images: dict[tuple[int, int], InlineImage | None]
) -> list[dict[str, Any]]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
            continue
        image = images.get((index, j))
        if image is not None:
            source = {"type": "base64", "media_type": image.mime_type, "data": image.data}
        else:
            source = {"type": "url", "url": part.image_url.url}
        blocks.append({"type": "image", "source": source})
    return blocks


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        return {"type": "tool", "name": choice["function"]["name"]}
    return None


def _usage(raw: Any, base: Usage) -> Usage:
    """Fold an Anthropic usage object into ``base``; counts the upstream omits stay as they were."""
    if not isinstance(raw, dict):
        return base
    inputs = [raw.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    known = [int(v) for v in inputs if isinstance(v, int)]
    return Usage(
        input_tokens=sum(known) if known else base.input_tokens,
        output_tokens=int(raw["output_tokens"])
        if isinstance(raw.get("output_tokens"), int)
        else base.output_tokens,
        images=base.images,
    )
