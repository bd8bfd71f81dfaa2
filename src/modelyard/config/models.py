"""`ModelSpec`: one entry of the model registry, as declared in YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.config.values import HttpUrl
from modelyard.types import ChatRequest, Family, Modality, PrivacyTier, Usage
from modelyard.types.classification import NotClassification, read_classification

__all__ = ["PROVIDER_KINDS", "Capabilities", "ChatCapability", "Endpoint", "Modalities", "ModelSpec", "Price"]

#: Provider kinds the registry knows; each is one module under ``modelyard.providers``.
PROVIDER_KINDS = (
    "openai", "anthropic", "gemini", "llama-cpp", "onnx-embed", "sim", "openai-images", "sam2-http", "opencv-grabcut"
)


class Price(BaseModel):
    """USD per 1,000 input tokens, per 1,000 output tokens, and per image."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    image: float = Field(default=0.0, ge=0)

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens / 1000.0 * self.input
            + usage.output_tokens / 1000.0 * self.output
            + usage.images * self.image
        )


class Modalities(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: list[Modality] = Field(default_factory=lambda: [Modality.TEXT], min_length=1)
    output: list[Modality] = Field(default_factory=lambda: [Modality.TEXT], min_length=1)


#: What a model does with a chat turn: any turn (``free``), classification requests only
#: (``classification``: a task prefix or a natural-language "is this A or B: <text>"), or none.
ChatCapability = Literal["free", "classification", "none"]
#: The gateway endpoint a request came through.
Endpoint = Literal["chat", "embeddings"]

#: Providers that cannot write free text whatever the family says.
_ENCODER_PROVIDERS = frozenset({"onnx-embed"})


class Capabilities(BaseModel):
    """What request shapes a model can serve; routers and selection never pick it for others.

    ``chat`` defaults by family and provider: ``classification`` for the ``mlm`` family
    and for encoder providers (``onnx-embed``), ``none`` when ``modalities.output`` is
    only ``embedding``, else ``free``. ``tasks`` adds classification task names the
    model answers without labels in the request (an ``onnx-embed`` model's
    ``options.label_sets`` are added automatically). ``embeddings`` defaults to true
    for the ``mlm`` family, encoder providers, and ``embedding`` among the outputs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    chat: ChatCapability | None = Field(default=None, description="free | classification | none; default by family")
    tasks: list[str] = Field(default_factory=list, description="extra classification task names")
    embeddings: bool | None = Field(default=None, description="serves /v1/embeddings; default by outputs")


class ModelSpec(BaseModel):
    """Everything routers and providers need to know about one model.

    ``api_key_env`` holds the *name* of an environment variable; the key itself
    is read at call time and never stored on this object.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="", description="filled from the YAML key")
    family: Family
    provider: str
    upstream_model: str | None = Field(
        default=None, min_length=1, description="model id sent upstream; defaults to the registry name"
    )
    base_url: HttpUrl | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    modalities: Modalities = Field(default_factory=Modalities)
    context_window: int = Field(default=8192, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    price: Price = Field(default_factory=Price)
    latency_p50_ms: float = Field(default=1000.0, gt=0)
    privacy: PrivacyTier = PrivacyTier.THIRD_PARTY
    enabled: bool = True
    weight: float = Field(default=1.0, ge=0, description="used by the 'weighted' selection strategy")
    timeout_s: float = Field(default=60.0, gt=0)
    tags: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider-specific settings, validated by the provider"
    )
    capabilities: Capabilities = Field(default_factory=Capabilities)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(PROVIDER_KINDS)}")
        return value

    @model_validator(mode="after")
    def _resolve_capabilities(self) -> ModelSpec:
        """Fill the family/provider defaults and reject contradictions (see `Capabilities`)."""
        caps = self.capabilities
        outputs = set(self.modalities.output)
        encoder = self.provider in _ENCODER_PROVIDERS
        if caps.chat is None:
            if outputs == {Modality.EMBEDDING}:
                chat: ChatCapability = "none"
            else:
                chat = "classification" if encoder or self.family is Family.MLM else "free"
        else:
            chat = caps.chat
        if chat != "none" and outputs == {Modality.EMBEDDING}:
            raise ValueError(
                f"capabilities.chat is {chat!r} but modalities.output is only embedding; "
                "add text to the outputs or set capabilities.chat: none"
            )
        if chat == "free" and encoder:
            raise ValueError(
                f"capabilities.chat 'free': provider {self.provider!r} is an encoder and answers classification "
                "requests only; use classification or none"
            )
        tasks = list(caps.tasks)
        if encoder and isinstance(label_sets := self.options.get("label_sets"), dict):
            tasks += [str(t) for t in label_sets if str(t) not in tasks]
        embeds = encoder or self.family is Family.MLM or Modality.EMBEDDING in outputs
        embeddings = caps.embeddings if caps.embeddings is not None else embeds
        resolved = Capabilities(chat=chat, tasks=tasks, embeddings=embeddings)
        if resolved != caps:
            object.__setattr__(self, "capabilities", resolved)  # frozen model: set once, at validation
        return self

    @property
    def chat_capability(self) -> ChatCapability:
        """The resolved ``capabilities.chat`` (never None after validation)."""
        return self.capabilities.chat or "free"

    def shape_rejection(self, request: ChatRequest, endpoint: Endpoint = "chat") -> str | None:
        """Why this model can never serve a request of this shape, or None.

        Shape is what the request *is*, not the model's live state: the endpoint,
        attached images, for a classification-only model whether the last user
        turn is a classification request (`read_classification`), and its size
        (`context_rejection`): a prompt longer than the context window is as
        unservable by this model as an image sent to a text-only one, so routers
        fall through past it the same way.
        """
        return self.kind_rejection(request, endpoint) or self.context_rejection(request)

    def context_rejection(self, request: ChatRequest) -> str | None:
        """Why ``request`` does not fit the context window, or None: its estimated input tokens
        (`ChatRequest.estimate_input_tokens`, ~4 characters a token) plus the output it asks for."""
        needed = request.estimate_input_tokens() + (request.output_token_limit or 0)
        if needed > self.context_window:
            return f"needs ~{needed} tokens, context window is {self.context_window}"
        return None

    def kind_rejection(self, request: ChatRequest, endpoint: Endpoint = "chat") -> str | None:
        """`shape_rejection` without the size: endpoint, images, free chat vs classification only."""
        if endpoint == "embeddings":
            return None if self.capabilities.embeddings else "does not produce embeddings"
        if request.image_task is not None:  # /v1/images/generations, /v1/segmentations
            wanted = Modality.IMAGE if request.image_task.kind == "generate" else Modality.MASK
            if wanted not in self.modalities.output:
                return f"does not produce {wanted.value} output"
        if request.has_image and not self.accepts_images():
            return "does not accept image input"
        chat = self.chat_capability
        if chat == "none":
            return "does not answer chat requests (embeddings only)"
        if chat == "classification":
            read = read_classification(request, self.capabilities.tasks)
            if isinstance(read, NotClassification):
                return f"answers classification requests only, and this is not one: {read.reason}"
        return None

    @property
    def wire_model(self) -> str:
        return self.upstream_model or self.name

    @property
    def simulated(self) -> bool:
        return self.provider == "sim"

    def accepts_images(self) -> bool:
        return Modality.IMAGE in self.modalities.input

    def __repr__(self) -> str:
        return (
            f"ModelSpec(name={self.name!r}, family={self.family.value!r}, "
            f"provider={self.provider!r}, api_key_env={self.api_key_env!r})"
        )
