"""What the image providers (generation, segmentation) share.

They answer a `ChatRequest` like every provider, so routers, fallbacks,
breakers, budgets and telemetry treat them as any other model. The work is
described by ``request.image_task`` (set by the image endpoints); a plain chat
request that reaches them gets the task's defaults with the last user text as
the prompt. Their answers carry `ImageOutput`s (pictures, or masks with
their `Segment`); a stream is the same answer as one text chunk (images are
returned on the non-streaming path and the image endpoints only).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from PIL import Image

from modelyard.errors import BadRequestError
from modelyard.media.decode import DecodedImage, parse_data_url
from modelyard.providers.base import Provider
from modelyard.types import (
    ChatRequest,
    GenerationTask,
    SegmentationTask,
    StreamChunk,
)

__all__ = ["LRU", "ImageProvider", "generation_task", "segmentation_task"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class LRU(Generic[_K, _V]):
    """A small least-recently-used map (image hash → prepared image or embedding id)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: _K) -> _V | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def generation_task(request: ChatRequest) -> GenerationTask:
    task = request.image_task
    if isinstance(task, GenerationTask):
        return task if task.prompt else task.model_copy(update={"prompt": request.last_user_text})
    return GenerationTask(prompt=request.last_user_text)


def segmentation_task(request: ChatRequest) -> SegmentationTask:
    task = request.image_task
    if isinstance(task, SegmentationTask):
        return task
    return SegmentationTask(text=request.last_user_text or None)


def _header_only(raw: bytes, mime: str) -> DecodedImage:
    """The edge (`modelyard.media.prepare`) fully decoded and checked this image; read its header only."""
    with Image.open(io.BytesIO(raw)) as im:
        return DecodedImage(raw, mime, im.format or "", im.width, im.height)


class ImageProvider(Provider):
    """Base for image providers: one image in (segmentation), the stream as one chunk."""

    def first_image(self, request: ChatRequest) -> DecodedImage:
        """The request's first image, decoded (the edge already checked it); 400 when there is none."""
        for i, message in enumerate(request.messages):
            for j, image in enumerate(message.images):
                param = f"messages[{i}].content[{j}].image_url"
                if not image.url.startswith("data:"):
                    raise BadRequestError(
                        f"{self.spec.name!r} needs the image inline; set media.remote_urls: fetch or send a data: URI",
                        model=self.spec.name,
                        provider=self.kind,
                    )
                mime, raw = parse_data_url(image.url, param=param)
                return _header_only(raw, mime)
        raise BadRequestError(
            f"{self.spec.name!r} segments an image and the request has none", model=self.spec.name, provider=self.kind
        )

    async def stream(self, request: ChatRequest, *, timeout: float | None = None) -> AsyncIterator[StreamChunk]:
        response = await self.chat(request, timeout=timeout)
        yield StreamChunk(text=response.text)
        yield StreamChunk(finish_reason=response.finish_reason, usage=response.usage)
