"""``kind: semantic`` — routes defined by example utterances, matched by embedding similarity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.types import Target

__all__ = ["Route", "SemanticSpec"]


class Route(BaseModel):
    """One embedding route; ``target`` defaults to the route's name (e.g. a family)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    utterances: list[str] = Field(min_length=1)
    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    target: TargetRef | None = None

    @property
    def target_ref(self) -> str:
        return self.target or self.name


class SemanticSpec(RouterSpec):
    """YAML::

    kind: semantic
    fallback: router:classifier
    routes:
      - {name: lam, threshold: 0.6, utterances: ["book me a table", "file a ticket"]}
    """

    kind: Literal["semantic"] = "semantic"
    routes: list[Route] = Field(min_length=1)
    fallback: TargetRef
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0, description="for routes without their own")
    top_k: int = Field(default=1, ge=1)
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> SemanticSpec:
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique: {names}")
        return self

    def references(self) -> list[tuple[str, Target]]:
        refs = [("fallback", Target.parse(self.fallback))]
        refs += [(f"routes[{i}].target", Target.parse(r.target_ref)) for i, r in enumerate(self.routes)]
        return refs
