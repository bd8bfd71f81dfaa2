"""Classical segmentation (GrabCut, OpenCV), not SAM: a box or clicks → one mask.

GrabCut (Rother, Kolmogorov, Blake, SIGGRAPH 2004; ``cv2.grabCut``) fits two
colour Gaussian-mixture models, foreground and background, and cuts the
image graph between them. It learns nothing beyond the one image, so it does
well when the object's colours differ from its surroundings and badly when
they do not; it understands no text.

Prompts:

* a box: outside is background, inside is "probably foreground";
* points with a box: positive points are pinned foreground, negative ones
  background (a disc of radius ~1/40 of the short side);
* points without a box: everything is "probably background", the image border
  background, positive discs foreground, and a disc three times larger around
  each positive point "probably foreground";
* nothing: the box inset 10 % from each edge (the usual framing of a subject).

Images are cut at most ``work_side`` pixels on the long side (default 512)
and the mask scaled back, which bounds the cost; `prepare` (scaling and an
edge-preserving bilateral filter, without which GrabCut's colour models
collapse on noisy images) runs once per image and can be cached.

``score`` is not a calibrated probability (GrabCut has none): it is the
Bhattacharyya distance between the foreground and background colour
histograms inside the box's neighbourhood, 0 (same colours: an unreliable
cut) to 1 (disjoint colours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelyard.types import Box, PointPrompt

__all__ = ["LABEL", "Prepared", "grabcut", "prepare"]

LABEL = "classical segmentation (GrabCut), not SAM"


@dataclass(frozen=True, slots=True)
class Prepared:
    """An image ready for cutting (what a split encoder would cache): working-size BGR and scale."""

    bgr: NDArray[np.uint8]
    scale: float
    height: int
    width: int


def prepare(rgb: NDArray[np.uint8], *, work_side: int = 512) -> Prepared:
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if scale < 1.0:
        bgr = cv2.resize(
            bgr, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    bgr = cv2.bilateralFilter(bgr, 7, 40, 7)  # edge-preserving denoise: GrabCut's colour models collapse on noise
    return Prepared(np.ascontiguousarray(bgr), scale, height, width)


def grabcut(
    image: Prepared,
    box: Box | None,
    points: Sequence[PointPrompt] = (),
    *,
    iterations: int = 5,
) -> tuple[NDArray[np.bool_], float]:
    """One mask at full size and its colour-separation score (see the module docstring)."""
    import cv2

    bgr, s = image.bgr, image.scale
    h, w = bgr.shape[:2]
    mask = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
    radius = max(2, round(min(h, w) / 40))
    if box is None and not points:
        box = Box(x0=0.1 * image.width, y0=0.1 * image.height, x1=0.9 * image.width, y1=0.9 * image.height)
    if box is not None:
        x0, y0 = max(0, int(box.x0 * s)), max(0, int(box.y0 * s))
        x1, y1 = min(w, max(x0 + 2, int(np.ceil(box.x1 * s)))), min(h, max(y0 + 2, int(np.ceil(box.y1 * s))))
        mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
    else:
        mask[:] = cv2.GC_PR_BGD
        mask[:2, :], mask[-2:, :], mask[:, :2], mask[:, -2:] = (cv2.GC_BGD,) * 4
        for p in points:
            if p.positive:
                cv2.circle(mask, (int(p.x * s), int(p.y * s)), radius * 3, cv2.GC_PR_FGD, -1)
    for p in points:
        cv2.circle(mask, (int(p.x * s), int(p.y * s)), radius, cv2.GC_FGD if p.positive else cv2.GC_BGD, -1)
    fg_seed = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    bg_seed = (mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)
    if fg_seed.sum() < 2 or bg_seed.sum() < 2:  # a box covering the whole image: nothing to contrast
        cut = fg_seed
    else:
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
        cut = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    cut = _main_component(cut, points, s)
    score = _separation(bgr, cut)
    if s < 1.0:
        full = cv2.resize(cut.astype(np.uint8) * 255, (image.width, image.height), interpolation=cv2.INTER_LINEAR)
        cut = full >= 128
    return cut, score


def _main_component(cut: NDArray[np.bool_], points: Sequence[PointPrompt], s: float) -> NDArray[np.bool_]:
    """Keep the components under positive points, else the largest (GrabCut leaves speckles)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=8)
    if count <= 2:
        return cut
    keep = {
        int(labels[min(int(p.y * s), cut.shape[0] - 1), min(int(p.x * s), cut.shape[1] - 1)])
        for p in points
        if p.positive
    }
    keep.discard(0)
    if not keep:
        keep = {1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))}
    return np.isin(labels, list(keep))


def _separation(bgr: NDArray[np.uint8], cut: NDArray[np.bool_]) -> float:
    import cv2

    if cut.all() or not cut.any():
        return 0.0
    ring = cv2.dilate(cut.astype(np.uint8), np.ones((15, 15), np.uint8), iterations=2).astype(bool) & ~cut
    if not ring.any():
        return 0.0
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hists = []
    for region in (cut, ring):
        hist = cv2.calcHist([hsv], [0, 1], region.astype(np.uint8), [16, 8], [0, 180, 0, 256])
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        hists.append(hist)
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))
