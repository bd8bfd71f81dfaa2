"""``provider: opencv-grabcut`` — classical segmentation (GrabCut), not SAM, in this process.

Really segments (OpenCV's GrabCut, see `modelyard.media.grabcut`) with no
weights and no network, so the embedded default's ``sam`` family works
offline. It is labelled everywhere as what it is: responses (text, each
mask's ``label``), ``upstream_model`` in records, and the config comment.

Prepared images (scaled, denoised) are cached by image hash, so several
prompts on one image pay the preparation once, like a SAM encoder cache.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.media.grabcut import LABEL, Prepared, grabcut, prepare
from modelyard.media.masks import mask_png, segment_of
from modelyard.providers.image_common import LRU, ImageProvider, segmentation_task
from modelyard.types import Box, ChatRequest, ChatResponse, ImageOutput, Usage

__all__ = ["GrabCutOptions", "GrabCutProvider"]


class GrabCutOptions(BaseModel):
    """``options:`` of a ``provider: opencv-grabcut`` model."""

    model_config = ConfigDict(extra="forbid")
    iterations: int = Field(default=5, ge=1, le=20, description="GrabCut iterations per prompt")
    work_side: int = Field(default=512, ge=64, le=4096, description="longest side the cut runs at")
    cache_images: int = Field(default=32, ge=0, description="prepared images kept by hash")


class GrabCutProvider(ImageProvider):
    """Classical segmentation (GrabCut), not SAM: a box and/or clicks → masks."""

    kind = "opencv-grabcut"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(GrabCutOptions)
        self.cache: LRU[str, Prepared] = LRU(max(1, self.options.cache_images))

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        task = segmentation_task(request)
        image = self.first_image(request)
        key = image.sha256
        prepared = self.cache.get(key) if self.options.cache_images else None
        if prepared is None:
            prepared = await asyncio.to_thread(prepare, image.rgb(), work_side=self.options.work_side)
            if self.options.cache_images:
                self.cache.put(key, prepared)
        prompts: list[Box | None] = list(task.boxes) or [None]
        outputs: list[ImageOutput] = []
        for box in prompts:
            mask, score = await asyncio.to_thread(
                grabcut, prepared, box, task.points, iterations=self.options.iterations
            )
            prompt: dict[str, Any] = {
                "box": box.as_list() if box else None,
                "points": [p.model_dump() for p in task.points],
            }
            if box is None and not task.points:
                prompt["default"] = "no prompt: the box inset 10% from each edge"
            outputs.append(
                ImageOutput(
                    kind="mask",
                    b64=base64.b64encode(mask_png(mask)).decode("ascii") if task.return_png else None,
                    label=LABEL,
                    width=image.width,
                    height=image.height,
                    segment=segment_of(mask, score, prompt),
                )
            )
        return self.finish(
            ChatResponse(
                model=self.spec.name,
                provider=self.kind,
                text=_describe(outputs, task.text),
                images=outputs,
                usage=Usage(input_tokens=request.estimate_input_tokens(), output_tokens=0, images=1),
                upstream_model="opencv-grabcut",
            )
        )


def _describe(outputs: list[ImageOutput], text: str | None) -> str:
    parts = []
    for i, out in enumerate(outputs):
        seg = out.segment
        assert seg is not None
        x, y, w, h = (int(v) for v in seg.bbox)
        parts.append(f"mask {i}: {seg.area} px, bbox x={x} y={y} w={w} h={h}, colour separation {seg.score:.2f}")
    note = " The text prompt is not understood by this backend (it segments the box or clicks)." if text else ""
    return f"[{LABEL}] " + "; ".join(parts) + "." + note
