"""Image tasks carried by a chat request: generate pictures (LCM family) or segment one (SAM family).

The gateway's ``/v1/images/generations`` and ``/v1/segmentations`` endpoints
turn their bodies into a `ChatRequest` whose ``image_task`` is one of these,
so image requests flow through the same routers, fallbacks, breakers, budgets
and telemetry as chat. A chat request without a task that lands on an image
model gets the task's defaults (the prompt is the last user text).

Coordinates are pixels of the (EXIF-rotated) input image, origin top-left.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Box",
    "GenerationTask",
    "ImageTask",
    "PointPrompt",
    "Segment",
    "SegmentationTask",
    "parse_size",
]

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def parse_size(size: str) -> tuple[int, int]:
    """``"512x768"`` → ``(512, 768)`` (width, height); ValueError naming the expected shape."""
    match = _SIZE.match(size.strip())
    if match is None:
        raise ValueError(f"size {size!r} is not WIDTHxHEIGHT (e.g. 1024x1024)")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"size {size!r}: each side must be 16..8192 pixels")
    return width, height


class GenerationTask(BaseModel):
    """An OpenAI Images API generation (``POST /v1/images/generations``).

    ``steps`` and ``seed`` are modelyard extensions a few-step (LCM/turbo) server
    honours; OpenAI ignores them. ``response_format`` is what the gateway answers
    with: ``b64_json`` (default) or ``url`` (a ``data:`` URL when the upstream
    returned bytes, since the gateway stores no files).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["generate"] = "generate"
    prompt: str | None = Field(default=None, description="None: the request's last user text")
    n: int = Field(default=1, ge=1, le=10)
    size: str = "1024x1024"
    quality: str | None = Field(default=None, description="standard | hd | low | medium | high | auto")
    style: str | None = None
    response_format: Literal["b64_json", "url"] = "b64_json"
    steps: int | None = Field(default=None, ge=1, le=200)
    seed: int | None = None
    negative_prompt: str | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value

    @property
    def dimensions(self) -> tuple[int, int]:
        return parse_size(self.size)


class PointPrompt(BaseModel):
    """A click: ``positive`` points are on the object, negative ones are not."""

    model_config = ConfigDict(extra="forbid")
    x: float = Field(ge=0)
    y: float = Field(ge=0)
    positive: bool = True


class Box(BaseModel):
    """A box prompt in corner form ``x0 < x1``, ``y0 < y1`` (pixels)."""

    model_config = ConfigDict(extra="forbid")
    x0: float = Field(ge=0)
    y0: float = Field(ge=0)
    x1: float = Field(ge=0)
    y1: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError(f"box needs x0 < x1 and y0 < y1, got ({self.x0}, {self.y0}, {self.x1}, {self.y1})")
        return self

    @classmethod
    def of(cls, raw: Any) -> Box:
        """From ``[x0, y0, x1, y1]`` or ``{"x0":…}``."""
        if isinstance(raw, list | tuple):
            if len(raw) != 4:
                raise ValueError("a box is [x0, y0, x1, y1]")
            return cls(x0=raw[0], y0=raw[1], x1=raw[2], y1=raw[3])
        return cls.model_validate(raw)

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]


class SegmentationTask(BaseModel):
    """Prompts for one image (``POST /v1/segmentations``).

    One instance is returned per box (points, if any, refine every box); with
    points and no box, one instance for the points; with neither, one instance
    for the most salient object (the backend's default prompt, said in the
    response). ``text`` is passed to backends that understand it; the classical
    backend does not and says so.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["segment"] = "segment"
    points: list[PointPrompt] = Field(default_factory=list, max_length=64)
    boxes: list[Box] = Field(default_factory=list, max_length=32)
    text: str | None = None
    multimask: bool = Field(default=False, description="SAM's multimask_output: best of three per prompt")
    return_png: bool = Field(default=True, description="also return each mask as a PNG")

    @field_validator("boxes", mode="before")
    @classmethod
    def _boxes(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Box.of(v) if isinstance(v, list | tuple) else v for v in value]
        return value


ImageTask = Annotated[GenerationTask | SegmentationTask, Field(discriminator="kind")]


class Segment(BaseModel):
    """One segmented instance.

    ``rle`` is COCO run-length encoding (``{"size": [height, width], "counts": str}``,
    column-major, as `pycocotools.mask.encode` writes it); ``bbox`` is COCO
    ``[x, y, width, height]`` of the mask; ``area`` its pixel count; ``score``
    the backend's confidence in [0, 1].
    """

    model_config = ConfigDict(extra="forbid")
    rle: dict[str, Any]
    score: float
    bbox: list[float]
    area: int
    prompt: dict[str, Any] = Field(default_factory=dict, description="the box/points this instance answers")
