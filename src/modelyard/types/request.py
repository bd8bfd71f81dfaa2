"""Requests in the OpenAI chat shape, plus the routing hints modelyard adds.

The wire shape is OpenAI's because that is what clients already speak; the
providers translate it to Anthropic, Gemini or a local runtime at their edge.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.types.enums import PrivacyTier
from modelyard.types.media import ImageTask

__all__ = [
    "ChatRequest",
    "ContentPart",
    "EmbeddingRequest",
    "ImagePart",
    "ImageURL",
    "Message",
    "RoutingHints",
    "TextPart",
]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"] = "text"
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="https URL or data:image/...;base64, URI")
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(BaseModel):
    """One chat message; ``content`` is a string or a list of parts."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The text of the message, parts joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImageURL]:
        if not isinstance(self.content, list):
            return []
        return [p.image_url for p in self.content if isinstance(p, ImagePart)]


class RoutingHints(BaseModel):
    """What a caller (or an upstream classifier) knows about the request.

    Every field is optional; routers read hints first and fall back to
    inspecting the request itself.
    """

    model_config = ConfigDict(extra="forbid")
    wants_action: bool | None = None
    needs_pixel_mask: bool | None = None
    is_generative_image: bool | None = None
    privacy: PrivacyTier | None = Field(
        default=None, description="Most exposed privacy tier the caller accepts."
    )
    consent_third_party: bool | None = Field(
        default=None, description="Explicit user consent to send this request to a third party."
    )
    latency_budget_ms: float | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, ge=0)
    tenant: str | None = None
    user_id: str | None = None
    volume_per_day: int | None = Field(default=None, ge=0)
    precision: Literal["approximate", "high", "pixel"] | None = None


class ChatRequest(BaseModel):
    """An OpenAI-style chat completion request.

    ``model`` names a concrete model or a router. Unknown OpenAI parameters are
    kept (``model_extra``) and passed to OpenAI-compatible upstreams untouched.
    """

    model_config = ConfigDict(extra="allow")
    model: str = "default"
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    seed: int | None = None
    logprobs: bool | None = None
    n: int | None = Field(
        default=None,
        ge=1,
        description="how many choices to answer with (OpenAI's n); None means one. The gateway caps "
        "it at gateway.max_n",
    )
    hints: RoutingHints = Field(default_factory=RoutingHints)
    image_task: ImageTask | None = Field(
        default=None,
        description="modelyard's: generate images or segment one (set by /v1/images/generations and "
        "/v1/segmentations; see modelyard.types.media); never sent to chat upstreams",
    )

    @property
    def choice_count(self) -> int:
        """How many choices the caller asked for (``n``, 1 when unset)."""
        return self.n or 1

    @property
    def output_token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""

    @property
    def system_text(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role in ("system", "developer"))

    @property
    def images(self) -> list[ImageURL]:
        return [img for m in self.messages for img in m.images]

    @property
    def output_images(self) -> int:
        """Images the request asks a model to make (an image-generation task's ``n``; else 0)."""
        task = self.image_task
        return task.n if task is not None and task.kind == "generate" else 0

    @property
    def has_image(self) -> bool:
        # asked by every router, capability check and limit: plain loops, no per-message property calls
        for m in self.messages:
            content = m.content
            if content.__class__ is list and any(isinstance(p, ImagePart) for p in content):  # type: ignore[union-attr]
                return True
        return False

    def estimate_input_tokens(self) -> int:
        """A cheap estimate (~4 characters a token) used for routing and budgets."""
        chars = 0
        for m in self.messages:
            content = m.content
            chars += len(content) if content.__class__ is str else len(m.text)  # type: ignore[arg-type]
        return max(1, chars // 4) + 4 * len(self.messages)

    def with_messages(self, messages: list[Message]) -> ChatRequest:
        return self.model_copy(update={"messages": messages})

    @classmethod
    def from_text(cls, text: str, *, model: str = "default", **kwargs: Any) -> ChatRequest:
        return cls(model=model, messages=[Message(role="user", content=text)], **kwargs)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: list[str] = Field(min_length=1)
    hints: RoutingHints = Field(default_factory=RoutingHints)
