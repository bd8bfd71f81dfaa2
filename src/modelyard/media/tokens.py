"""Input tokens one image costs, per provider's published formula, and per-provider image limits.

Formulas (estimates: the upstream's own usage, when it reports one, is what is billed):

* **OpenAI** (GPT-4o family, ``detail`` high/auto): scale to fit 2048×2048, then
  so the shortest side is 768 px, count 512-px tiles; tokens = 85 + 170 × tiles.
  ``detail: low`` is a flat 85. Source: platform.openai.com/docs/guides/images-vision
  ("Calculating costs").
* **Anthropic**: tokens ≈ width × height / 750, after the long edge is scaled to
  at most 1568 px (and ~1.15 megapixels). Source: docs.claude.com/en/docs/vision
  ("Evaluate image size" / "Calculate image costs").
* **Gemini** (2.0+): 258 tokens when both sides are ≤ 384 px, else the image is
  cut into 768×768 tiles of 258 tokens each. Source: ai.google.dev/gemini-api/docs/tokens
  (multimodal tokens); geminibyexample.com/027-calculate-input-tokens.

Limits (`PROVIDER_LIMITS`) as the same pages state them: OpenAI up to 500 images
and 50 MB payload per request; Anthropic 100 images per API request, 5 MB per
image, 8000×8000 px (2000×2000 when more than 20 images), 32 MB per request;
Gemini 3,600 images and 20 MB of inline data per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["FORMULA_OF", "PROVIDER_LIMITS", "Formula", "ImageLimits", "image_tokens"]

Formula = Literal["openai", "anthropic", "gemini"]
#: provider kind → which formula estimates its image tokens
FORMULA_OF: dict[str, Formula] = {"anthropic": "anthropic", "gemini": "gemini"}


def _openai(width: int, height: int, detail: str | None) -> int:
    if detail == "low":
        return 85
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return 85 + 170 * tiles


def _anthropic(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 1568:
        scale = 1568 / max(w, h)
        w, h = w * scale, h * scale
    if w * h > 1_150_000:
        scale = math.sqrt(1_150_000 / (w * h))
        w, h = w * scale, h * scale
    return max(1, math.ceil(w * h / 750))


def _gemini(width: int, height: int) -> int:
    if width <= 384 and height <= 384:
        return 258
    return math.ceil(width / 768) * math.ceil(height / 768) * 258


def image_tokens(formula: str, width: int, height: int, detail: str | None = None) -> int:
    """Input tokens for one ``width`` × ``height`` image under ``formula`` (see the module docstring)."""
    if formula == "anthropic":
        return _anthropic(width, height)
    if formula == "gemini":
        return _gemini(width, height)
    return _openai(width, height, detail)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one upstream accepts per request: image count, bytes per image and in total, longest side."""

    max_images: int
    max_image_bytes: int
    max_total_bytes: int
    max_side: int


_MB = 1024 * 1024
PROVIDER_LIMITS: dict[str, ImageLimits] = {
    "openai": ImageLimits(max_images=500, max_image_bytes=50 * _MB, max_total_bytes=50 * _MB, max_side=16384),
    "anthropic": ImageLimits(max_images=100, max_image_bytes=5 * _MB, max_total_bytes=32 * _MB, max_side=8000),
    "gemini": ImageLimits(max_images=3600, max_image_bytes=20 * _MB, max_total_bytes=20 * _MB, max_side=16384),
}
