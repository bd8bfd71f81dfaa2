"""Image endpoints: ``POST /v1/images/generations`` (OpenAI Images API shape) and ``POST /v1/segmentations``.

Both turn their body into a `ChatRequest` carrying an ``image_task`` and hand
it to the engine like a chat completion, so routers (a rule or the profile
router can send drafts to a few-step model), fallbacks, breakers, budgets,
records and metrics are the same as for text. Contracts: docs/images.md.

Also here: what the chat endpoint needs for images — `note_images` puts the
edge's per-image facts (dimensions, bytes, token estimates per provider
formula) into the request's record as an ``images`` event, and `image_headers`
writes ``x-modelyard-image-tokens`` / ``x-modelyard-image-cost-usd`` for the
model that answered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.config import ModelSpec
from modelyard.errors import RequestError, UpstreamServerError
from modelyard.media.prepare import ImageFacts, MediaGate
from modelyard.media.tokens import FORMULA_OF
from modelyard.server.context import request_info
from modelyard.server.errors import invalid_body
from modelyard.server.hints import routing_hints
from modelyard.server.image_bodies import generation_data, parse_generation_body
from modelyard.server.jsonio import dumps
from modelyard.server.shapes import extension, format_cost, route_of, routing_headers
from modelyard.types import (
    ChatRequest,
    ImagePart,
    ImageURL,
    Message,
    PointPrompt,
    RequestTrace,
    SegmentationTask,
    TextPart,
    new_id,
)

if TYPE_CHECKING:
    from modelyard.engine import Completion, Engine

__all__ = ["MediaAPI", "image_headers", "note_images"]

_SEGMENTATION_FIELDS = {"model", "image", "points", "boxes", "text", "multimask", "return_png", "user"}


def note_images(trace: RequestTrace, facts: list[ImageFacts]) -> None:
    """Record the checked images (no pixels, no URLs) as an ``images`` event on the trace."""
    if facts:
        trace.event("images", f"{len(facts)} image(s) checked", images=[f.record() for f in facts])


def image_headers(trace: RequestTrace, spec: ModelSpec | None) -> dict[str, str]:
    """Estimated image input tokens for the answering model's formula, and what they cost at its prices.

    Read from the trace's ``images`` event (`note_images`); nothing when the request had no image.
    """
    facts = [f for e in trace.events if e.kind == "images" for f in e.data.get("images", [])]
    if not facts or spec is None:
        return {}
    formula = FORMULA_OF.get(spec.provider, "openai")
    tokens = sum(int((f.get("tokens") or {}).get(formula, 0)) for f in facts)
    cost = tokens / 1000.0 * spec.price.input + len(facts) * spec.price.image
    return {"x-modelyard-image-tokens": str(tokens), "x-modelyard-image-cost-usd": format_cost(cost)}


class MediaAPI:
    """The image endpoints for one engine; ``read_json`` is the gateway's body reader (size cap, 400s)."""

    def __init__(
        self, engine: Engine, gate: MediaGate, read_json: Callable[[Request], Awaitable[dict[str, Any]]]
    ) -> None:
        self.engine = engine
        self.gate = gate
        self.read_json = read_json

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/images/generations", self.generations, methods=["POST"]),
            Route("/v1/segmentations", self.segmentations, methods=["POST"]),
        ]

    # -- generation -------------------------------------------------------------

    async def generations(self, request: Request) -> Response:
        info = request_info(request.scope)
        body = await self.read_json(request)
        hints = routing_hints(request.scope["headers"], body, tenant=info.tenant)
        info.tenant = hints.tenant
        model, task = parse_generation_body(body)
        hints = hints.model_copy(update={"is_generative_image": True})
        chat = ChatRequest(
            model=model or "lcm", messages=[Message(role="user", content=task.prompt)], image_task=task, hints=hints
        )
        done, headers = await self._run(chat, info, "images")
        images = [i for i in done.response.images if i.kind == "image"]
        if not images:
            raise UpstreamServerError(f"{done.response.model!r} answered without an image: {done.response.text[:200]}")
        payload = {"created": int(time.time()), "data": generation_data(images, task), "modelyard": self._ext(done)}
        return Response(dumps(payload), media_type="application/json", headers=headers)

    # -- segmentation -----------------------------------------------------------

    async def segmentations(self, request: Request) -> Response:
        info = request_info(request.scope)
        body = await self.read_json(request)
        hints = routing_hints(request.scope["headers"], body, tenant=info.tenant)
        info.tenant = hints.tenant
        unknown = sorted(set(body) - _SEGMENTATION_FIELDS)
        if unknown:
            raise RequestError(
                f"unknown field {unknown[0]!r} for segmentations", param=unknown[0], code="unknown_parameter"
            )
        image = body.get("image")
        if isinstance(image, dict):
            image = image.get("url")
        if not isinstance(image, str) or not image:
            raise RequestError("image must be a data: URI or an https URL", param="image", code="invalid_value")
        url, fact = await self.gate.check_url(image, param="image")
        try:
            task = SegmentationTask(
                points=[_point(p, i) for i, p in enumerate(body.get("points") or [])],
                boxes=body.get("boxes") or [],
                text=body.get("text"),
                multimask=bool(body.get("multimask", False)),
                return_png=bool(body.get("return_png", True)),
            )
        except ValidationError as exc:
            raise invalid_body(exc) from None
        _inside(task, fact)
        hints = hints.model_copy(update={"needs_pixel_mask": True})
        content = [TextPart(text=task.text or "segment the prompted object"), ImagePart(image_url=ImageURL(url=url))]
        chat = ChatRequest(
            model=body.get("model") or "sam",
            messages=[Message(role="user", content=content)],
            image_task=task,
            hints=hints,
        )
        done, headers = await self._run(chat, info, "segmentations", [fact])
        masks = [i for i in done.response.images if i.kind == "mask" and i.segment is not None]
        if not masks:
            raise UpstreamServerError(f"{done.response.model!r} answered without a mask: {done.response.text[:200]}")
        instances = []
        for mask in masks:
            assert mask.segment is not None
            entry: dict[str, Any] = {
                "mask": {"format": "coco_rle", **mask.segment.rle},
                "score": mask.segment.score,
                "bbox": mask.segment.bbox,
                "area": mask.segment.area,
                "prompt": mask.segment.prompt,
            }
            if mask.b64 is not None:
                entry["png_b64"] = mask.b64
            instances.append(entry)
        payload = {
            "id": new_id("seg"),
            "object": "segmentation",
            "created": int(time.time()),
            "model": done.response.model,
            "backend": masks[0].label,
            "image": {"width": fact.width, "height": fact.height},
            "instances": instances,
            "text": done.response.text,
            "modelyard": self._ext(done),
        }
        return Response(dumps(payload), media_type="application/json", headers=headers)

    # -- shared -----------------------------------------------------------------

    async def _run(
        self, chat: ChatRequest, info: Any, endpoint: str, facts: list[ImageFacts] | None = None
    ) -> tuple[Completion, dict[str, str]]:
        trace = self.engine.new_trace(chat, endpoint=endpoint)
        trace.request_id = info.request_id
        note_images(trace, facts or [])
        done = await self.engine.chat(chat, trace=trace)
        response = done.response
        info.model, info.route, info.cost_usd, info.simulated = (
            response.model,
            route_of(done.decision),
            trace.cost_usd,
            response.simulated,
        )
        headers = routing_headers(response.model, info.route or "direct", trace.cost_usd, response.simulated)
        if response.usage.images:
            spec = self.engine.config.models.get(response.model)
            per_image = spec.price.image if spec is not None else 0.0
            headers["x-modelyard-images"] = str(len(response.images))
            headers["x-modelyard-image-cost-usd"] = format_cost(per_image * response.usage.images)
        return done, headers

    @staticmethod
    def _ext(done: Completion) -> dict[str, Any]:
        response = done.response
        family = done.decision.family or response.family
        return extension(
            done.decision,
            done.trace,
            model=response.model,
            family=family.value if family else None,
            simulated=response.simulated,
        )


def _point(raw: Any, i: int) -> PointPrompt:
    """``[x, y]``, ``[x, y, positive]`` or ``{"x", "y", "positive"}``."""
    if isinstance(raw, list | tuple) and len(raw) in (2, 3):
        return PointPrompt(x=raw[0], y=raw[1], positive=bool(raw[2]) if len(raw) == 3 else True)
    if isinstance(raw, dict):
        return PointPrompt.model_validate(raw)
    raise RequestError("a point is [x, y, positive] or {x, y, positive}", param=f"points[{i}]", code="invalid_value")


def _inside(task: SegmentationTask, fact: ImageFacts) -> None:
    """Every prompt within the image (when its size is known)."""
    if fact.width is None or fact.height is None:
        return
    w, h = fact.width, fact.height
    for i, box in enumerate(task.boxes):
        if box.x0 >= w or box.y0 >= h or box.x1 > w + 1 or box.y1 > h + 1:
            raise RequestError(
                f"box {box.as_list()} is outside the {w}x{h} image", param=f"boxes[{i}]", code="invalid_value"
            )
    for i, p in enumerate(task.points):
        if p.x >= w or p.y >= h:
            raise RequestError(
                f"point ({p.x}, {p.y}) is outside the {w}x{h} image", param=f"points[{i}]", code="invalid_value"
            )
