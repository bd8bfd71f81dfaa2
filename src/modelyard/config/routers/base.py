"""Base of every router spec: the YAML shape of one entry under ``routers:``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from modelyard.types import Target

__all__ = ["RouterSpec", "TargetRef"]

#: A reference to a model, a family or a router, as written in YAML:
#: ``gpt-mini``, ``slm``, ``model:gpt-mini``, ``family:slm``, ``router:triage``.
TargetRef = str


class RouterSpec(BaseModel):
    """Fields shared by all router kinds; each kind subclasses this."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    name: str = ""
    description: str = ""

    def references(self) -> list[tuple[str, Target]]:
        """(key path relative to this router, target) for every target it names.

        The loader checks that each exists and that routers form no cycle.
        """
        return []
