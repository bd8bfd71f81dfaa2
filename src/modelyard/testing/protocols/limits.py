"""The request limits of the real APIs, enforced by the loopback so tests fail where the API would.

Each check raises `ProtocolError` with the real API's status and error shape
(and, where users have reported it, its wording) for a request the real API
refuses: Anthropic's whitespace-only stop sequences, media types, image size
and pixels, temperature, tool names and ids, alternating roles and tool
result pairing; Gemini's stop-sequence count, inline image types, function
names and roles; OpenAI's stop-sequence count, image formats, tool names and
temperature. This module is written apart from the providers' own checks
(`modelyard.providers.wire_limits`) on purpose: the loopback is the adversary.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any

from modelyard.testing.protocols.common import ProtocolError

__all__ = ["check_anthropic", "check_gemini", "check_openai"]

_ANTHROPIC_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_GEMINI_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
_OPENAI_FORMATS = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_ANTHROPIC_TOOL = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_GEMINI_FUNCTION = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")
_OPENAI_FUNCTION = re.compile(r"^[a-zA-Z0-9_-]+$")
_FIVE_MB = 5 * 1024 * 1024


def _magic(data: bytes) -> tuple[str | None, int, int]:
    """(media type by signature, width, height); sizes only for PNG and GIF, 0 otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        width, height = struct.unpack(">II", data[16:24]) if len(data) >= 24 else (0, 0)
        return "image/png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10]) if len(data) >= 10 else (0, 0)
        return "image/gif", width, height
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", 0, 0
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", 0, 0
    return None, 0, 0


def _b64(data: Any) -> bytes | None:
    try:
        return base64.b64decode(data if isinstance(data, str) else "", validate=True)
    except (binascii.Error, ValueError):
        return None


# -- Anthropic ----------------------------------------------------------------------------------


def check_anthropic(body: dict[str, Any]) -> None:
    """Messages API request limits (HTTP 400, ``invalid_request_error``)."""
    for seq in body.get("stop_sequences") or ():
        if not isinstance(seq, str) or not seq:
            raise ProtocolError(400, "stop_sequences: each stop sequence must be non-empty")
        if not seq.strip():
            raise ProtocolError(400, "stop_sequences: each stop sequence must contain non-whitespace")
    for field in ("temperature", "top_p"):
        value = body.get(field)
        if isinstance(value, int | float) and not 0 <= value <= 1:
            bound = "less than or equal to 1" if value > 1 else "greater than or equal to 0"
            raise ProtocolError(400, f"{field}: Input should be {bound}")
    for i, tool in enumerate(body.get("tools") or ()):
        if not _ANTHROPIC_TOOL.match(str(tool.get("name", ""))):
            raise ProtocolError(400, f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
    messages = body.get("messages") or []
    images = sum(
        1
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "image"
    )
    previous_calls: set[str] = set()
    for i, m in enumerate(messages):
        if i and messages[i - 1].get("role") == m.get("role"):
            raise ProtocolError(
                400,
                'messages: roles must alternate between "user" and "assistant", but found multiple '
                f'"{m.get("role")}" roles in a row',
            )
        blocks = m.get("content") if isinstance(m.get("content"), list) else []
        answered: set[str] = set()
        seen_other = False
        for j, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            where = f"messages.{i}.content.{j}"
            if kind == "image":
                _anthropic_image(block.get("source") or {}, where, many=images > 20)
            elif kind == "tool_use" and not _ANTHROPIC_ID.match(str(block.get("id", ""))):
                raise ProtocolError(400, f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            elif kind == "tool_result":
                call = str(block.get("tool_use_id", ""))
                if call not in previous_calls:
                    raise ProtocolError(
                        400,
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {call}. Each "
                        "`tool_result` block must have a corresponding `tool_use` block in the previous message.",
                    )
                if seen_other:
                    raise ProtocolError(400, f"{where}: tool_result blocks must come first in the user message")
                answered.add(call)
            seen_other = seen_other or kind != "tool_result"
        missing = previous_calls - answered
        if missing:
            raise ProtocolError(
                400,
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(sorted(missing))}. Each `tool_use` block must have a corresponding `tool_result` "
                "block in the next message.",
            )
        previous_calls = {str(b.get("id")) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"}
    if messages and messages[-1].get("role") == "assistant":
        last = messages[-1].get("content")
        text = last if isinstance(last, str) else (last[-1].get("text") if last else None)
        if isinstance(text, str) and text != text.rstrip():
            raise ProtocolError(400, "final assistant content cannot end with trailing whitespace")


def _anthropic_image(source: dict[str, Any], where: str, *, many: bool) -> None:
    if source.get("type") != "base64":
        return
    declared = source.get("media_type")
    if declared not in _ANTHROPIC_TYPES:
        allowed = ", ".join(f"'{t}'" for t in _ANTHROPIC_TYPES[:-1]) + f" or '{_ANTHROPIC_TYPES[-1]}'"
        raise ProtocolError(400, f"{where}.image.source.base64.media_type: Input should be {allowed}")
    data = source.get("data") or ""
    if len(data) > _FIVE_MB:
        raise ProtocolError(
            400, f"{where}.image.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > {_FIVE_MB} bytes"
        )
    raw = _b64(data)
    if raw is None:
        raise ProtocolError(400, f"{where}.image.source.base64.data: invalid base64 data")
    actual, width, height = _magic(raw)
    if actual is not None and actual != declared:
        raise ProtocolError(
            400,
            f"{where}.image.source.base64.data: The image was specified using the {declared} media type, "
            f"but the image appears to be a {actual} image",
        )
    limit = 2000 if many else 8000
    if max(width, height) > limit:
        kind = " for many-image requests" if many else ""
        raise ProtocolError(
            400,
            f"{where}.image.source.base64.data: At least one of the image dimensions exceed max allowed "
            f"size{kind}: {limit} pixels",
        )


# -- Gemini -------------------------------------------------------------------------------------


def check_gemini(body: dict[str, Any]) -> None:
    """generateContent request limits (HTTP 400, ``INVALID_ARGUMENT``)."""
    contents = body.get("contents")
    if not contents:
        raise ProtocolError(400, "* GenerateContentRequest.contents: contents is not specified", "INVALID_ARGUMENT")
    config = body.get("generationConfig") or body.get("generation_config") or {}
    stops = config.get("stopSequences") or config.get("stop_sequences") or []
    if len(stops) > 5:
        raise ProtocolError(400, "the number of stop_sequences must not exceed 5", "INVALID_ARGUMENT")
    temperature = config.get("temperature")
    if isinstance(temperature, int | float) and not 0 <= temperature <= 2:
        raise ProtocolError(
            400, "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]", "INVALID_ARGUMENT"
        )
    for content in contents:
        if content.get("role", "user") not in ("user", "model"):
            raise ProtocolError(400, "Please use a valid role: user, model.", "INVALID_ARGUMENT")
        for part in content.get("parts") or ():
            inline = part.get("inlineData") or part.get("inline_data") if isinstance(part, dict) else None
            if isinstance(inline, dict):
                mime = inline.get("mimeType") or inline.get("mime_type")
                if mime not in _GEMINI_TYPES and str(mime).startswith("image/"):
                    raise ProtocolError(400, f"Unsupported MIME type: {mime}", "INVALID_ARGUMENT")
    for t, tool in enumerate(body.get("tools") or ()):
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for d, declaration in enumerate(declarations):
            if not _GEMINI_FUNCTION.match(str(declaration.get("name", ""))):
                raise ProtocolError(
                    400,
                    f"* GenerateContentRequest.tools[{t}].function_declarations[{d}].name: Invalid function name. "
                    "Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores "
                    "(_), dots (.), colons (:), or dashes (-), with a maximum length of 64.",
                    "INVALID_ARGUMENT",
                )


# -- OpenAI -------------------------------------------------------------------------------------


def _openai_error(message: str, code: str, param: str | None) -> ProtocolError:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return ProtocolError(400, message, code, body=body)


def check_openai(body: dict[str, Any]) -> None:
    """Chat Completions request limits of OpenAI's own API (HTTP 400, with ``param``)."""
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        raise _openai_error(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with "
            f"length {len(stop)} instead.",
            "array_above_max_length",
            "stop",
        )
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and temperature > 2:
        raise _openai_error(
            f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {temperature} "
            "instead.",
            "decimal_above_max_value",
            "temperature",
        )
    for i, tool in enumerate(body.get("tools") or ()):
        name = str((tool.get("function") or {}).get("name", ""))
        if not _OPENAI_FUNCTION.match(name) or len(name) > 64:
            raise _openai_error(
                f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                "invalid_value",
                f"tools[{i}].function.name",
            )
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        parts: list[Any] = content if isinstance(content, list) else []
        for part in parts:
            url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
            if isinstance(url, str) and url.startswith("data:"):
                _, _, data = url[5:].partition(",")
                raw = _b64(data) or b""
                actual, _, _ = _magic(raw)
                if actual not in _OPENAI_FORMATS or len(raw) > 20 * 1024 * 1024:
                    raise _openai_error(
                        "You uploaded an unsupported image. Please make sure your image is below 20 MB in size "
                        "and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                        "invalid_image_format",
                        None,
                    )
