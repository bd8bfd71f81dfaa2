"""The root of a modelyard YAML file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from modelyard.config.actions import ActionSettings
from modelyard.config.envvars import EnvReference
from modelyard.config.gateway import GatewaySettings
from modelyard.config.media import MediaSettings
from modelyard.config.models import ModelSpec
from modelyard.config.pipelines import PipelineSpec
from modelyard.config.resilience import ResilienceSettings
from modelyard.config.retrieval import RetrievalSettings
from modelyard.config.routers import RouterSpec
from modelyard.config.telemetry import TelemetrySettings

__all__ = ["Config"]


class Config(BaseModel):
    """A whole configuration: models, routers and the layers around them.

    Build one with `modelyard.config.load_config`, which also expands ``${…}``
    references, resolves router kinds, checks references and reports errors
    with file and key path.
    """

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    models: dict[str, ModelSpec] = Field(min_length=1)
    routers: dict[str, RouterSpec] = Field(default_factory=dict)
    selection: Literal["cheapest", "fastest", "weighted"] = Field(
        default="cheapest", description="how a family target picks among its fitting models"
    )
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    pipelines: dict[str, PipelineSpec] = Field(default_factory=dict, description="called as model 'pipeline:NAME'")
    actions: ActionSettings = Field(default_factory=ActionSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    source: str = Field(default="<memory>", exclude=True)
    _env_references: tuple[EnvReference, ...] = PrivateAttr(default=())

    @property
    def env_references(self) -> tuple[EnvReference, ...]:
        """Every ``${…}`` the loader expanded, in file order (see `modelyard.config.envvars`)."""
        return self._env_references

    def names(self) -> list[str]:
        """Every name a request's ``model`` field may use."""
        return sorted([*self.models, *self.routers])
