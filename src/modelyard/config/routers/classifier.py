"""``kind: classifier`` — a trained head over local MiniLM embeddings picks the label."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.types import Target

__all__ = ["ClassifierSpec"]


class ClassifierSpec(RouterSpec):
    """YAML: ``{kind: classifier, artefact: default, confidence_floor: 0.5, safe_target: llm}``;
    add ``fast_artefact: default-static`` (and ``fast_confidence``) for the two-stage router."""

    kind: Literal["classifier"] = "classifier"
    artefact: str = "default"
    confidence_floor: float = Field(default=0.5, ge=0.0, le=1.0)
    safe_target: TargetRef = "llm"
    targets: dict[str, TargetRef] = Field(default_factory=dict, description="label → target; default: the label")
    image_labels: list[str] | None = Field(
        default=None, description="when the request carries an image, choose only among these labels"
    )
    max_chars: int | None = Field(
        default=None, ge=16, description="classify only the first N characters (caps encoder latency)"
    )
    fast_artefact: str | None = Field(
        default=None,
        description="a head over the static (distilled) encoder tried first, e.g. default-static; absent: one stage",
    )
    fast_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="the fast stage decides at or above this top probability; default: the value the fast "
        "artefact was calibrated with by cross-validation, else 0.8",
    )

    @field_validator("image_labels")
    @classmethod
    def _non_empty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("image_labels must name at least one label (or be omitted)")
        return v

    def references(self) -> list[tuple[str, Target]]:
        refs = [("safe_target", Target.parse(self.safe_target))]
        refs += [(f"targets.{k}", Target.parse(v)) for k, v in self.targets.items()]
        return refs
