"""The ``pipelines:`` section: named pipelines of typed stages (see docs/pipelines.md).

A stage's text fields are templates: ``{{request.text}}`` (the last user message),
``{{request.system}}``, ``{{inputs.NAME}}`` (the request's ``pipeline_inputs``),
``{{stages.NAME.output}}`` (a stage's parsed output) and ``{{stages.NAME.text}}``
(its text). A reference to a stage makes it a dependency, as ``after`` does;
stages that do not depend on each other run at the same time::

    pipelines:
      support-ticket:
        stages:
          classify: {kind: chat, target: mlm, prompt: "classify: {{request.text}}",
                     extra: {labels: [billing, bug, account]}}
          kb:       {kind: retrieve, collection: kb, query: "{{request.text}}", k: 3}
          extract:  {kind: chat, target: slm, prompt: "...", output_schema: {...}}
          answer:   {kind: chat, target: router:reasoning, prompt: "... {{stages.kb.text}} ..."}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ActStage",
    "ChatStage",
    "PipelineSpec",
    "RetrieveStage",
    "StageSpec",
    "check_pipeline_references",
    "stage_dependencies",
]

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    after: list[str] = Field(default_factory=list, description="stages to wait for besides the referenced ones")


class ChatStage(_Stage):
    """Call a model, family or router (through routing and resilience) with a templated prompt."""

    kind: Literal["chat"]
    target: str = Field(min_length=1, description="model, family (slm, llm, …) or router name")
    prompt: str = Field(min_length=1)
    system: str | None = None
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema the answer must match (parsed as JSON, else retried)"
    )
    schema_retries: int = Field(default=1, ge=0, le=5, description="extra calls after an invalid answer")
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    extra: dict[str, Any] = Field(default_factory=dict, description="more request fields, e.g. labels for an MLM")


class RetrieveStage(_Stage):
    """Embed the query with the MLM and take the top-k chunks of a collection."""

    kind: Literal["retrieve"]
    collection: str = Field(pattern=_NAME)
    query: str = Field(min_length=1)
    k: int = Field(default=4, ge=1, le=100)
    where: dict[str, Any] = Field(default_factory=dict, description="metadata filter (templated values)")


class ActStage(_Stage):
    """Run an action graph: a fixed plan from ``actions.plans``, or one planned once by ``planner``."""

    kind: Literal["act"]
    plan: str | None = Field(default=None, description="a name under actions.plans")
    planner: str | None = Field(default=None, description="model/family/router that writes the graph once")
    task: str | None = Field(default=None, description="what the planner is asked to do (template)")
    inputs: dict[str, Any] = Field(default_factory=dict, description="run inputs (templated)")
    approve: list[str] = Field(default_factory=list, description="gated steps approved by this pipeline")
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ActStage:
        if (self.plan is None) == (self.planner is None):
            raise ValueError("give exactly one of 'plan' (a fixed graph) or 'planner' (planned once)")
        if self.planner is not None and not self.task:
            raise ValueError("a planner needs a 'task'")
        return self


StageSpec = Annotated[ChatStage | RetrieveStage | ActStage, Field(discriminator="kind")]


class PipelineSpec(BaseModel):
    """Named stages; ``output`` names the stage that answers (default: the last one)."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    stages: dict[str, StageSpec] = Field(min_length=1)
    output: str | None = None
    deadline_ms: float | None = Field(default=None, gt=0, description="one deadline for every stage")
    budget_usd: float | None = Field(default=None, ge=0, description="one cost cap for every stage")

    @model_validator(mode="after")
    def _check(self) -> PipelineSpec:
        import re

        from modelyard.config.graphcheck import levels_or_cycle

        for name in self.stages:
            if not re.match(_NAME, name):
                raise ValueError(f"stages.{name}: stage names use letters, digits, _ and -")
        deps = {name: stage_dependencies(stage) for name, stage in self.stages.items()}
        for name, wait in deps.items():
            unknown = sorted(wait - set(self.stages))
            if unknown:
                raise ValueError(f"stages.{name}: refers to unknown stage(s) {', '.join(unknown)}")
            if name in wait:
                raise ValueError(f"stages.{name}: refers to itself")
        cycle = levels_or_cycle(deps)
        if isinstance(cycle, str):
            raise ValueError(f"stages: {cycle}")
        if self.output is not None and self.output not in self.stages:
            raise ValueError(f"output: no stage named {self.output!r}")
        return self

    @property
    def answer_stage(self) -> str:
        return self.output or list(self.stages)[-1]


def stage_dependencies(stage: ChatStage | RetrieveStage | ActStage) -> set[str]:
    """The stages a stage waits for: ``after`` plus every ``{{stages.NAME…}}`` in its templates."""
    from modelyard.config.graphcheck import referenced

    fields = stage.model_dump(exclude={"after", "description", "kind", "output_schema"})
    return set(stage.after) | referenced(fields, "stages")


def check_pipeline_references(
    pipelines: dict[str, PipelineSpec],
    *,
    models: set[str],
    routers: set[str],
    plans: set[str],
    source: str,
) -> None:
    """Every stage target names a model, family or router; every ``plan`` an ``actions.plans`` entry."""
    from modelyard.errors import ConfigError
    from modelyard.types import Family

    families = {f.value for f in Family}
    for name, spec in pipelines.items():
        for stage_name, stage in spec.stages.items():
            key = f"pipelines.{name}.stages.{stage_name}"
            targets = []
            if isinstance(stage, ChatStage):
                targets.append(("target", stage.target))
            elif isinstance(stage, ActStage):
                if stage.planner is not None:
                    targets.append(("planner", stage.planner))
                if stage.plan is not None and stage.plan not in plans:
                    raise ConfigError(f"no plan {stage.plan!r} under actions.plans", file=source, key=f"{key}.plan")
            for field, target in targets:
                bare = target.split(":", 1)[1] if target.split(":", 1)[0] in ("model", "router", "family") else target
                if bare not in models | routers | families:
                    raise ConfigError(
                        f"{target!r} is not a model, router or family defined in this file",
                        file=source,
                        key=f"{key}.{field}",
                    )
