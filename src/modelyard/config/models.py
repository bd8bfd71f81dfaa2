"""`ModelSpec`: one entry of the model registry, as declared in YAML."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.config.values import HttpUrl
from modelyard.types import Family, Modality, PrivacyTier, Usage

__all__ = ["PROVIDER_KINDS", "Modalities", "ModelSpec", "Price"]

#: Provider kinds the registry knows; each is one module under ``modelyard.providers``.
PROVIDER_KINDS = ("openai", "anthropic", "gemini", "llama-cpp", "onnx-embed", "sim")


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

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(PROVIDER_KINDS)}")
        return value

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
