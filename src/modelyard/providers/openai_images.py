"""``provider: openai-images`` — any OpenAI-Images-compatible server (OpenAI, vLLM-Omni, LocalAI, …).

``POST {base_url}/images/generations`` with ``{"model", "prompt", "n", "size",
"quality", "style", "response_format"}`` → ``{"created", "data": [{"b64_json" |
"url", "revised_prompt"}]}`` (platform.openai.com/docs/api-reference/images/create).
``seed``, ``steps`` and ``negative_prompt`` are sent only when the request set
them, under the names ``options.extension_fields`` maps them to (few-step
LCM/turbo servers take ``steps``; OpenAI itself does not, so leave them unset
there). Cost is ``price.image`` per image returned.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.providers.http import HTTPProvider
from modelyard.providers.image_common import ImageProvider, generation_task
from modelyard.types import ChatRequest, ChatResponse, ImageOutput, Usage

__all__ = ["OpenAIImagesOptions", "OpenAIImagesProvider"]


class OpenAIImagesOptions(BaseModel):
    """``options:`` of a ``provider: openai-images`` model."""

    model_config = ConfigDict(extra="forbid")
    upstream_response_format: str | None = Field(
        default="b64_json", description="asked of the upstream; None for servers (gpt-image-1) that always send b64"
    )
    extension_fields: dict[str, str] = Field(
        default_factory=lambda: {"seed": "seed", "steps": "steps", "negative_prompt": "negative_prompt"},
        description="modelyard extension → the upstream's field name",
    )


class OpenAIImagesProvider(HTTPProvider, ImageProvider):
    """Image generation over the OpenAI Images API."""

    kind = "openai-images"
    default_base_url = "https://api.openai.com/v1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(OpenAIImagesOptions)

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"authorization": f"Bearer {key}"} if key else {}

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        task = generation_task(request)
        body: dict[str, Any] = {
            "model": self.spec.wire_model,
            "prompt": task.prompt or "",
            "n": task.n,
            "size": task.size,
        }
        for name in ("quality", "style"):
            value = getattr(task, name)
            if value is not None:
                body[name] = value
        if self.options.upstream_response_format:
            body["response_format"] = self.options.upstream_response_format
        for name, wire in self.options.extension_fields.items():
            value = getattr(task, name, None)
            if value is not None:
                body[wire] = value
        return body

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        task = generation_task(request)
        body = self.build_body(request)
        data = await self.post_json("/images/generations", body, timeout=timeout)
        try:
            items = list(data["data"])
        except (KeyError, TypeError):
            raise self.malformed("images answer without data[]") from None
        width, height = task.dimensions
        outputs = []
        for i, item in enumerate(items):
            b64, url = item.get("b64_json"), item.get("url")
            if not isinstance(b64, str) and not isinstance(url, str):
                raise self.malformed(f"data[{i}] has neither b64_json nor url")
            outputs.append(
                ImageOutput(
                    kind="image",
                    b64=b64 if isinstance(b64, str) else None,
                    url=url if isinstance(url, str) and not isinstance(b64, str) else None,
                    width=width,
                    height=height,
                    revised_prompt=item.get("revised_prompt"),
                )
            )
        if not outputs:
            raise self.malformed("images answer with an empty data[]")
        usage = Usage(input_tokens=max(1, len((task.prompt or "").split())), output_tokens=0, images=len(outputs))
        text = f"generated {len(outputs)} image(s) of {task.size} for: {task.prompt}"
        return self.finish(
            ChatResponse(model=self.spec.name, provider=self.kind, text=text, images=outputs, usage=usage)
        )
