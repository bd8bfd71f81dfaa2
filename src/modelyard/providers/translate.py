"""Pieces of the OpenAI shape that the Anthropic and Gemini translations both need.

Pure functions over plain data: images as data URIs or URLs, tool calls and
tool declarations. Nothing here does I/O or knows a vendor's field names.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import urllib.parse
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FunctionTool",
    "InlineImage",
    "function_tools",
    "inline_image",
    "openai_tool_call",
    "tool_call_arguments",
    "tool_names_by_id",
    "url_mime_type",
]


@dataclass(frozen=True, slots=True)
class InlineImage:
    """A ``data:`` URI taken apart: the media type and base64 payload."""

    mime_type: str
    data: str


def inline_image(url: str) -> InlineImage | None:
    """The image inside a ``data:`` URI, or None for an ordinary URL.

    Raises ValueError for a data URI that is not a decodable image.
    """
    if not url.startswith("data:"):
        return None
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ValueError("data URI without a comma")
    params = header.split(";")
    mime = params[0].strip().lower() or "text/plain"
    if not mime.startswith("image/"):
        raise ValueError(f"data URI of type {mime!r} is not an image")
    if "base64" in (p.strip().lower() for p in params[1:]):
        data = "".join(payload.split())
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data URI payload is not valid base64") from None
    else:
        data = base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode()
    return InlineImage(mime_type=mime, data=data)


def url_mime_type(url: str) -> str:
    """A best guess of an image URL's media type from its extension (JPEG if unknown)."""
    path = urllib.parse.urlsplit(url).path
    guessed, _ = mimetypes.guess_type(path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def tool_call_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in an OpenAI tool call's ``function.arguments`` string."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise ValueError("tool call arguments must be a JSON object")
    return value


def openai_tool_call(index: int, call_id: str, name: str, arguments: str | dict[str, Any]) -> dict[str, Any]:
    """A complete tool call in OpenAI's shape (valid as a message entry or a stream delta)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_names_by_id(messages: list[Any]) -> dict[str, str]:
    """Tool-call id → function name over the assistant turns (tool results name only the id)."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.tool_calls or ():
            fn = call.get("function") or {}
            if call.get("id") and fn.get("name"):
                names[call["id"]] = fn["name"]
    return names


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    description: str | None
    parameters: dict[str, Any]


def function_tools(tools: list[dict[str, Any]] | None) -> list[FunctionTool]:
    """OpenAI ``tools`` entries of type function, in a vendor-neutral form."""
    out: list[FunctionTool] = []
    for tool in tools or ():
        if tool.get("type", "function") != "function":
            continue
        fn = tool.get("function") or {}
        if not fn.get("name"):
            raise ValueError("a function tool needs function.name")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(FunctionTool(name=fn["name"], description=fn.get("description"), parameters=params))
    return out
