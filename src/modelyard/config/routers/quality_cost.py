"""``kind: quality_cost`` — choose among N models by predicted quality and cost."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.config.routers.classifier import OodSpec
from modelyard.types import Target

__all__ = ["QualityCostSpec"]


class QualityCostSpec(RouterSpec):
    """YAML::

        kind: quality_cost
        artefact: routerbench-minilm-mf        # shipped name or a path
        candidates: {gpt-4-1106-preview: gpt-4o, mistralai/mixtral-8x7b-chat: moe}
        lambda: 200          # or max_cost: 0.001 (USD per request) or target_quality: 0.8
        ood: {target: gpt-4o}

    ``candidates`` maps the artefact's model names to targets; only those are
    considered. Exactly one policy: ``lambda`` (quality points per USD: pick
    ``argmax predicted_quality − λ·cost``), ``max_cost`` (best predicted quality whose
    expected cost per request ≤ this many USD) or ``target_quality`` (the cheapest
    candidate predicted to reach it). A request's ``hints.max_cost_usd`` also caps cost.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["quality_cost"] = "quality_cost"
    artefact: str
    candidates: dict[str, TargetRef] = Field(min_length=1)
    lambda_: float | None = Field(default=None, alias="lambda", ge=0.0)
    max_cost: float | None = Field(default=None, ge=0.0)
    target_quality: float | None = Field(default=None, ge=0.0, le=1.0)
    costs: dict[str, float] = Field(
        default_factory=dict, description="expected USD per request by artefact model; default: the training mean"
    )
    ood: OodSpec | None = Field(default=None, description="send inputs unlike the training prompts to ood.target")

    @model_validator(mode="after")
    def _one_policy(self) -> QualityCostSpec:
        set_ = [k for k in ("lambda_", "max_cost", "target_quality") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("set exactly one of 'lambda', 'max_cost' or 'target_quality'")
        if unknown := sorted(set(self.costs) - set(self.candidates)):
            raise ValueError(f"costs names models that are not candidates: {unknown}")
        if any(c < 0 for c in self.costs.values()):
            raise ValueError("costs must be >= 0")
        return self

    def references(self) -> list[tuple[str, Target]]:
        refs = [(f"candidates.{k}", Target.parse(v)) for k, v in self.candidates.items()]
        if self.ood is not None:
            refs.append(("ood.target", Target.parse(self.ood.target)))
        return refs
