"""``kind: classifier`` — a trained head over local MiniLM embeddings picks the label."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.types import Target

__all__ = ["ClassifierSpec", "OodSpec"]


class OodSpec(BaseModel):
    """``ood:`` — where inputs unlike the classifier's training data go, instead of a confident guess.

    Needs an ``ood.npz`` reference in the artefact directory (the shipped ``default``
    has one; build your own with ``python -m modelyard.routing.classifier.ood_build``).
    """

    model_config = ConfigDict(extra="forbid")
    target: TargetRef = Field(description="where out-of-distribution inputs go, e.g. slm")
    min_similarity: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="nearest-training-example cosine below this is out of distribution; "
        "default: the value measured when the reference was built",
    )


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
    ood: OodSpec | None = Field(
        default=None, description="send out-of-distribution inputs (junk, a few characters) to ood.target"
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
        if self.ood is not None:
            refs.append(("ood.target", Target.parse(self.ood.target)))
        refs += [(f"targets.{k}", Target.parse(v)) for k, v in self.targets.items()]
        return refs
