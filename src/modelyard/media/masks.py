"""Masks: COCO run-length encoding (pycocotools), PNG, bounding boxes, overlays.

A mask is a ``(height, width)`` bool array. RLE is COCO's compressed form,
``{"size": [height, width], "counts": "<ascii>"}``, which
``pycocotools.mask.decode`` turns back into the ``(height, width)`` array.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pycocotools import mask as coco_mask

from modelyard.types import Segment

__all__ = [
    "decode_rle",
    "encode_rle",
    "mask_bbox",
    "mask_png",
    "overlay_png",
    "polygons_to_mask",
    "segment_of",
]

Mask = NDArray[np.bool_]
_COLOURS = [(255, 64, 64), (64, 160, 255), (80, 220, 100), (255, 200, 40), (200, 80, 255)]


def encode_rle(mask: Mask) -> dict[str, Any]:
    """COCO RLE of ``mask`` with ``counts`` as an ASCII string (JSON-safe)."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def decode_rle(rle: dict[str, Any]) -> Mask:
    """The ``(height, width)`` bool mask of a COCO RLE (string or bytes counts)."""
    counts = rle["counts"]
    raw = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    with warnings.catch_warnings():  # pycocotools 2.0.x under numpy 2: a harmless copy= DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(coco_mask.decode(raw), dtype=bool)


def mask_bbox(mask: Mask) -> list[float]:
    """COCO ``[x, y, width, height]`` of the mask's pixels (zeros when empty)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]


def segment_of(mask: Mask, score: float, prompt: dict[str, Any] | None = None) -> Segment:
    return Segment(
        rle=encode_rle(mask),
        score=round(float(min(1.0, max(0.0, score))), 4),
        bbox=mask_bbox(mask),
        area=int(mask.sum()),
        prompt=prompt or {},
    )


def mask_png(mask: Mask) -> bytes:
    """An 8-bit greyscale PNG: 255 on the mask, 0 elsewhere."""
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def polygons_to_mask(polygons: Sequence[Sequence[Sequence[float]]], height: int, width: int) -> Mask:
    """Fill ``[[[x, y], …], …]`` polygons (SAM 2 HTTP's JSON mask form) into a mask."""
    import cv2

    canvas = np.zeros((height, width), dtype=np.uint8)
    shapes = [np.asarray(p, dtype=np.int32).reshape(-1, 1, 2) for p in polygons if len(p) >= 3]
    if shapes:
        cv2.fillPoly(canvas, shapes, 1)
    return canvas.astype(bool)


def overlay_png(
    rgb: NDArray[np.uint8], masks: Sequence[Mask], boxes: Sequence[Sequence[float]] = (), *, alpha: float = 0.5
) -> bytes:
    """The image with each mask tinted and outlined, and the prompt boxes drawn, as PNG."""
    import cv2

    out = rgb.astype(np.float32).copy()
    edges = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for i, mask in enumerate(masks):
        colour = np.asarray(_COLOURS[i % len(_COLOURS)], dtype=np.float32)
        out[mask] = out[mask] * (1 - alpha) + colour * alpha
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(edges, contours, -1, i + 1, 2)
    result = out.clip(0, 255).astype(np.uint8)
    for i in range(len(masks)):
        result[edges == i + 1] = _COLOURS[i % len(_COLOURS)]
    for box in boxes:
        x0, y0, x1, y1 = (round(v) for v in box)
        cv2.rectangle(result, (x0, y0), (x1, y1), (255, 255, 255), 1)
    buffer = io.BytesIO()
    Image.fromarray(result, mode="RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
