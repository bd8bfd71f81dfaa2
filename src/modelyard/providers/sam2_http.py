"""``provider: sam2-http`` — the Roboflow Inference SAM 2 HTTP protocol (self-hostable).

Wire shape (roboflow/inference ``entities/requests/sam2.py`` and
``responses/sam2.py``; docs.roboflow.com/deploy/supported-models/sam2):

* ``POST /sam2/embed_image`` ``{"image": {"type": "base64", "value": …}, "image_id": …,
  "sam2_version_id": …, "api_key": …}`` → ``{"image_id": …, "time": s}``: the
  server runs the image encoder and caches the embedding under ``image_id``;
* ``POST /sam2/segment_image`` ``{"image": …, "image_id": …, "prompts": {"prompts":
  [{"box": {"x": cx, "y": cy, "width": w, "height": h}, "points": [{"x", "y",
  "positive"}]}]}, "multimask_output": bool, "format": "json"}`` →
  ``{"predictions": [{"masks": [[[x, y], …], …] | {"size", "counts"}, "confidence": f,
  "format": "polygon" | "rle"}], "time": s}``. Boxes are centre + size.

The gateway keeps the ids of images it has embedded on this upstream (by image
hash, LRU): the first prompt on an image calls ``embed_image`` once, later
prompts go straight to ``segment_image`` with the same ``image_id``, so the
encoder runs once per image. The key (``api_key_env``) travels in the body,
as this protocol expects.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.media.masks import decode_rle, mask_png, polygons_to_mask, segment_of
from modelyard.providers.http import HTTPProvider
from modelyard.providers.image_common import LRU, ImageProvider, segmentation_task
from modelyard.types import Box, ChatRequest, ChatResponse, ImageOutput, PointPrompt, Usage

__all__ = ["Sam2HTTPOptions", "Sam2HTTPProvider"]


class Sam2HTTPOptions(BaseModel):
    """``options:`` of a ``provider: sam2-http`` model."""

    model_config = ConfigDict(extra="forbid")
    sam2_version_id: str = Field(
        default="hiera_small", description="hiera_tiny | hiera_small | hiera_b_plus | hiera_large"
    )
    embed_cache: int = Field(default=256, ge=0, description="image ids remembered as embedded upstream")


class Sam2HTTPProvider(HTTPProvider, ImageProvider):
    """SAM 2 over Roboflow Inference's HTTP API."""

    kind = "sam2-http"
    default_base_url = "http://127.0.0.1:9001"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(Sam2HTTPOptions)
        self.embedded: LRU[str, str] = LRU(max(1, self.options.embed_cache))
        self.encoder_calls = 0

    def auth_headers(self) -> dict[str, str]:
        return {}

    def _base_body(self, image_b64: str, image_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "image": {"type": "base64", "value": image_b64},
            "image_id": image_id,
            "sam2_version_id": self.options.sam2_version_id,
        }
        key = self.api_key()
        if key:
            body["api_key"] = key
        return body

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        task = segmentation_task(request)
        image = self.first_image(request)
        image_id = image.sha256[:32]
        image_b64 = base64.b64encode(image.data).decode("ascii")
        if self.options.embed_cache == 0 or self.embedded.get(image_id) is None:
            await self.post_json("/sam2/embed_image", self._base_body(image_b64, image_id), timeout=timeout)
            self.encoder_calls += 1
            self.embedded.put(image_id, image_id)
        prompts = [_prompt(box, task.points) for box in task.boxes] or [_prompt(None, task.points)]
        if prompts == [{}]:  # no prompt: the centre of the image, as a positive click
            prompts = [{"points": [{"x": image.width / 2, "y": image.height / 2, "positive": True}]}]
        body = self._base_body(image_b64, image_id)
        body.update({"prompts": {"prompts": prompts}, "multimask_output": task.multimask, "format": "json"})
        data = await self.post_json("/sam2/segment_image", body, timeout=timeout)
        try:
            predictions = list(data["predictions"])
        except (KeyError, TypeError):
            raise self.malformed("segment_image answer without predictions") from None
        outputs = []
        for i, prediction in enumerate(predictions):
            try:
                raw_mask, score = prediction["masks"], float(prediction["confidence"])
                if isinstance(raw_mask, dict):
                    mask = decode_rle(raw_mask)
                else:
                    mask = polygons_to_mask(raw_mask, image.height, image.width)
            except (KeyError, TypeError, ValueError):
                raise self.malformed(f"prediction {i} has no masks/confidence") from None
            prompt = prompts[min(i, len(prompts) - 1)]
            outputs.append(
                ImageOutput(
                    kind="mask",
                    b64=base64.b64encode(mask_png(mask)).decode("ascii") if task.return_png else None,
                    label=f"SAM 2 ({self.options.sam2_version_id})",
                    width=image.width,
                    height=image.height,
                    segment=segment_of(mask, score, prompt),
                )
            )
        text = f"SAM 2 ({self.options.sam2_version_id}): " + "; ".join(
            f"mask {i}: {o.segment.area} px, score {o.segment.score:.2f}" for i, o in enumerate(outputs) if o.segment
        )
        return self.finish(
            ChatResponse(
                model=self.spec.name,
                provider=self.kind,
                text=text,
                images=outputs,
                usage=Usage(input_tokens=request.estimate_input_tokens(), images=1),
                upstream_model=f"sam2/{self.options.sam2_version_id}",
            )
        )


def _prompt(box: Box | None, points: list[PointPrompt]) -> dict[str, Any]:
    prompt: dict[str, Any] = {}
    if box is not None:
        prompt["box"] = {
            "x": (box.x0 + box.x1) / 2,
            "y": (box.y0 + box.y1) / 2,
            "width": box.x1 - box.x0,
            "height": box.y1 - box.y0,
        }
    if points:
        prompt["points"] = [{"x": p.x, "y": p.y, "positive": p.positive} for p in points]
    return prompt
