"""Per-provider image limits, checked just before a call so an over-limit image never leaves the gateway.

The gateway-wide checks (`modelyard.media.prepare`) run at the edge; this one
runs on the call path, where the provider is known: a request whose images
break the chosen provider's published limits (`PROVIDER_LIMITS`: count, bytes
per image and in total, longest side) is answered 400 naming the part, and no
upstream call is made.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from modelyard.errors import RequestError
from modelyard.media.tokens import PROVIDER_LIMITS, ImageLimits
from modelyard.types import ChatRequest, ImagePart

__all__ = ["check_provider_limits"]


def check_provider_limits(request: ChatRequest, provider_kind: str, model: str) -> None:
    """Raise `RequestError` (400) when ``request``'s images break ``provider_kind``'s limits."""
    limits = PROVIDER_LIMITS.get(provider_kind)
    if limits is None or not request.has_image:
        return
    parts = [
        (f"messages[{i}].content[{j}].image_url", part)
        for i, message in enumerate(request.messages)
        if isinstance(message.content, list)
        for j, part in enumerate(message.content)
        if isinstance(part, ImagePart)
    ]
    if len(parts) > limits.max_images:
        raise RequestError(
            f"{len(parts)} images; {model!r} ({provider_kind}) accepts at most {limits.max_images} per request",
            param="messages",
            code="too_many_images",
        )
    total = 0
    for param, part in parts:
        url = part.image_url.url
        if not url.startswith("data:"):
            continue  # a passed-through URL: the upstream fetches it and applies its own limits
        total += _check_inline(url, limits, param, model, provider_kind)
    if total > limits.max_total_bytes:
        raise RequestError(
            f"images total {total} bytes; {model!r} ({provider_kind}) accepts {limits.max_total_bytes} per request",
            param="messages",
            code="image_too_large",
        )


def _check_inline(url: str, limits: ImageLimits, param: str, model: str, kind: str) -> int:
    payload = url.partition(",")[2]
    size = len(payload) * 3 // 4 - payload[-2:].count("=")
    if size > limits.max_image_bytes:
        raise RequestError(
            f"image is {size} bytes; {model!r} ({kind}) accepts {limits.max_image_bytes} per image",
            param=param,
            code="image_too_large",
        )
    try:
        with Image.open(io.BytesIO(base64.b64decode(payload))) as im:
            width, height = im.size
    except (OSError, ValueError):  # the edge already checked it; an unreadable one is the upstream's to refuse
        return size
    if max(width, height) > limits.max_side:
        raise RequestError(
            f"image is {width}x{height}; {model!r} ({kind}) accepts sides up to {limits.max_side} px",
            param=param,
            code="image_too_wide",
        )
    return size
