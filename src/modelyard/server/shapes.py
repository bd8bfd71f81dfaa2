"""OpenAI response bodies built from modelyard's types, plus the ``modelyard`` field.

Bodies are plain dicts serialised once with orjson: no pydantic round trip on
the hot path. The ``modelyard`` field (which model answered, the route, why,
the cost) is an extra top-level key, which the OpenAI SDKs keep as an extra
attribute; the same facts go into ``x-modelyard-*`` headers.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from modelyard.config import Config
from modelyard.server.sse import usage_body
from modelyard.types import ChatResponse, Choice, Decision, EmbeddingResponse, ImageOutput, RequestTrace

__all__ = [
    "completion_body",
    "embedding_body",
    "extension",
    "format_cost",
    "image_content",
    "model_entries",
    "route_of",
    "routing_headers",
]


def route_of(decision: Decision | None) -> str:
    """The router path as an ASCII header value; ``direct`` when the request named a model."""
    if decision is None:
        return "direct"
    return ">".join(decision.path) or decision.router


def format_cost(cost: float) -> str:
    return f"{cost:.10f}".rstrip("0").rstrip(".") or "0"


def extension(
    decision: Decision | None,
    trace: RequestTrace,
    *,
    model: str,
    family: str | None,
    simulated: bool,
) -> dict[str, Any]:
    """The ``modelyard`` field: who answered, by which route, why, and what it cost."""
    return {
        "model": model,
        "family": family,
        "route": list(decision.path) if decision else [],
        "router": decision.router if decision else "direct",
        "reason": decision.reason if decision else "",
        "cost_usd": trace.cost_usd,
        "simulated": simulated,
        "request_id": trace.request_id,
        "attempts": len(trace.attempts),
    }


def routing_headers(model: str, route: str, cost: float | None, simulated: bool) -> dict[str, str]:
    headers = {"x-modelyard-model": _ascii(model), "x-modelyard-route": _ascii(route)}
    if cost is not None:
        headers["x-modelyard-cost-usd"] = format_cost(cost)
    if simulated:
        headers["x-modelyard-simulated"] = "true"
    return headers


def completion_body(response: ChatResponse, ext: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion``: every choice (``n``), usage over all of them.

    With several choices ``modelyard.choices`` names the model that answered
    each (a fanned-out choice may have fallen back on its own).
    """
    choices = response.all_choices()
    bodies = [_choice_body(choice) for choice in choices]
    if response.images:  # pictures and masks: image parts of the message; their facts (and RLEs) in the extension
        ext = {**ext, "images": [image.model_dump(exclude_none=True, exclude={"b64"}) for image in response.images]}
        bodies[0]["message"]["content"] = image_content(choices[0].text, response.images)
    if len(choices) > 1:
        ext = {**ext, "choices": [{"index": c.index, "model": c.model or response.model} for c in choices]}
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": bodies,
        "usage": usage_body(response.usage),
        "modelyard": ext,
    }


def image_content(text: str, images: list[ImageOutput]) -> list[dict[str, Any]]:
    """OpenAI content parts: the text, then each image as an ``image_url`` part (a ``data:`` URL)."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for image in images:
        url = f"data:{image.mime_type};base64,{image.b64}" if image.b64 is not None else image.url
        if url:
            parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def _choice_body(choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.text}
    if choice.tool_calls:
        message["tool_calls"] = choice.tool_calls
        if not choice.text:
            message["content"] = None
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": choice.finish_reason or "stop",
        "logprobs": None,
    }


def embedding_body(response: EmbeddingResponse, ext: dict[str, Any], *, encoding: str) -> dict[str, Any]:
    encode = _base64 if encoding == "base64" else list
    tokens = response.usage.input_tokens
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(vector)}
            for i, vector in enumerate(response.vectors)
        ],
        "model": response.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "modelyard": ext,
    }


def _base64(vector: list[float]) -> str:
    """Little-endian float32, base64 — what OpenAI's ``encoding_format: base64`` returns."""
    packed = array("f", vector)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def model_entries(config: Config) -> list[dict[str, Any]]:
    """``/v1/models`` entries: names, kinds and families only — no URLs, no env names."""
    entries: list[dict[str, Any]] = [
        {
            "id": spec.name,
            "object": "model",
            "created": 0,
            "owned_by": spec.provider,
            "kind": "model",
            "family": spec.family.value,
            "simulated": spec.simulated,
            "enabled": spec.enabled,
        }
        for spec in config.models.values()
    ]
    entries += [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "modelyard-router",
            "kind": "router",
            "router_kind": spec.kind,
            "description": spec.description,
        }
        for name, spec in config.routers.items()
    ]
    return entries


def _ascii(value: str) -> str:
    return value if value.isascii() else value.encode("ascii", "replace").decode("ascii")
