"""The OpenAI Images API generation body, read and answered: shared by the gateway and the batch runner.

``/v1/images/generations`` in `modelyard.server.media_api` and the batch
endpoint in `modelyard.batch.images` take the same body and give the same
``data`` list; both build them here.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modelyard.errors import RequestError
from modelyard.server.errors import invalid_body
from modelyard.types import GenerationTask, ImageOutput

__all__ = ["generation_data", "parse_generation_body"]

_GENERATION_FIELDS = set(GenerationTask.model_fields) - {"kind"}


def parse_generation_body(body: dict[str, Any]) -> tuple[str | None, GenerationTask]:
    """``(model or None, task)`` from an Images API generation body (``body`` is not changed).

    Errors: `RequestError` naming the field — an unknown field (``unknown_parameter``),
    a ``model`` that is not a string or a missing or blank ``prompt`` (``invalid_value``),
    or a value `GenerationTask` refuses.
    """
    fields = dict(body)
    model = fields.pop("model", None)
    fields.pop("user", None)
    if model is not None and not isinstance(model, str):
        raise RequestError("model must be a string", param="model", code="invalid_value")
    unknown = sorted(set(fields) - _GENERATION_FIELDS)
    if unknown:
        raise RequestError(
            f"unknown field {unknown[0]!r} for images/generations", param=unknown[0], code="unknown_parameter"
        )
    if not isinstance(fields.get("prompt"), str) or not fields["prompt"].strip():
        raise RequestError("prompt must be a non-empty string", param="prompt", code="invalid_value")
    try:
        task = GenerationTask.model_validate(fields)
    except ValidationError as exc:
        raise invalid_body(exc) from None
    return model or None, task


def generation_data(images: list[ImageOutput], task: GenerationTask) -> list[dict[str, Any]]:
    """The answer's ``data`` list: one ``{"b64_json"}`` or ``{"url"}`` (a ``data:`` URL when the
    model gave bytes but ``url`` was asked for) per image, plus ``revised_prompt`` when the model gave one."""
    data = []
    for image in images:
        item: dict[str, Any] = {}
        if task.response_format == "b64_json" and image.b64 is not None:
            item["b64_json"] = image.b64
        elif image.b64 is not None:
            item["url"] = f"data:{image.mime_type};base64,{image.b64}"
        else:
            item["url"] = image.url
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    return data
