"""Synthetic segmentation scenes with known masks: one shape on a textured, noisy background.

Each scene is seeded (same seed, same pixels). The background is smooth
random colour texture (noise upsampled, plus stripes) with per-pixel Gaussian
noise; the object is an ellipse, rectangle, triangle or star, filled with its
own texture whose mean colour differs from the background's by a random
amount, so some scenes are easy and some are hard. Used by the segmentation
tests (mean IoU floor), the benchmark and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Scene", "scene", "scenes"]

_SHAPES = ("ellipse", "rectangle", "triangle", "star")


@dataclass(frozen=True, slots=True)
class Scene:
    """``rgb`` is ``(h, w, 3)`` uint8, ``mask`` the object's ``(h, w)`` bool mask, ``box`` its ``[x0, y0, x1, y1]``."""

    rgb: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    shape: str
    seed: int

    @property
    def box(self) -> list[float]:
        ys, xs = np.nonzero(self.mask)
        return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _texture(rng: np.random.Generator, h: int, w: int, base: NDArray[np.float64], spread: float) -> NDArray[np.float64]:
    import cv2

    coarse = rng.normal(0.0, spread, size=(max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, np.pi)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(3, 9))[..., None] * spread * 0.4
    out: NDArray[np.float64] = base[None, None, :] + smooth + stripes
    return out


def scene(seed: int, *, height: int = 192, width: int = 256, noise: float = 16.0) -> Scene:
    """One scene; ``noise`` is the per-pixel Gaussian sigma in 0..255 units."""
    import cv2

    rng = np.random.default_rng(seed)
    shape = _SHAPES[seed % len(_SHAPES)]
    bg_colour = rng.uniform(40, 215, size=3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    fg_colour = np.clip(bg_colour + direction * rng.uniform(40, 110), 0, 255)
    image = _texture(rng, height, width, bg_colour, 24.0)
    canvas = np.zeros((height, width), dtype=np.uint8)
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    rx, ry = rng.uniform(0.12, 0.3) * width, rng.uniform(0.12, 0.3) * height
    if shape == "ellipse":
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif shape == "rectangle":
        rect = ((float(cx), float(cy)), (float(2 * rx), float(2 * ry)), float(rng.uniform(0, 90)))
        cv2.fillPoly(canvas, [cv2.boxPoints(rect).astype(np.int32)], 1)
    else:
        corners = 3 if shape == "triangle" else 10
        start = rng.uniform(0, 2 * np.pi)
        points = []
        for k in range(corners):
            t = start + 2 * np.pi * k / corners
            scale = 1.0 if shape == "triangle" or k % 2 == 0 else 0.5
            points.append([cx + rx * scale * np.cos(t), cy + ry * scale * np.sin(t)])
        cv2.fillPoly(canvas, [np.asarray(points, dtype=np.int32)], 1)
    mask = canvas.astype(bool)
    image[mask] = _texture(rng, height, width, fg_colour, 14.0)[mask]
    image += rng.normal(0.0, noise, size=image.shape)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), mask, shape, seed)


def scenes(count: int, *, start: int = 0, **kwargs: float | int) -> list[Scene]:
    return [scene(start + i, **kwargs) for i in range(count)]  # type: ignore[arg-type]
