"""``kind: threshold`` — strong/weak routing on a learned "strong model needed" score."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.config.routers.classifier import OodSpec
from modelyard.types import Target

__all__ = ["ThresholdSpec"]


class ThresholdSpec(RouterSpec):
    """YAML: ``{kind: threshold, strong: gpt-4o, weak: slm, artefact: mmlu-minilm-logreg,
    strong_share: 0.3}``."""

    kind: Literal["threshold"] = "threshold"
    strong: TargetRef
    weak: TargetRef
    artefact: str
    threshold: float | None = None
    strong_share: float | None = None
    ood: OodSpec | None = Field(
        default=None,
        description="send inputs unlike the head's training prompts (needs ood.npz in the artefact) to ood.target",
    )

    @model_validator(mode="after")
    def _one_setting(self) -> ThresholdSpec:
        if (self.threshold is None) == (self.strong_share is None):
            raise ValueError("set exactly one of 'threshold' or 'strong_share'")
        if self.strong_share is not None and not 0.0 <= self.strong_share <= 1.0:
            raise ValueError("strong_share must be between 0 and 1")
        return self

    def references(self) -> list[tuple[str, Target]]:
        refs = [("strong", Target.parse(self.strong)), ("weak", Target.parse(self.weak))]
        if self.ood is not None:
            refs.append(("ood.target", Target.parse(self.ood.target)))
        return refs
