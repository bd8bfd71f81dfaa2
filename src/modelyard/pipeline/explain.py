"""The stage graph of a pipeline: levels, and a text drawing for ``route --explain`` and the docs."""

from __future__ import annotations

from modelyard.config.graphcheck import levels_or_cycle
from modelyard.config.pipelines import ActStage, ChatStage, PipelineSpec, RetrieveStage, stage_dependencies

__all__ = ["describe_stage", "draw", "stage_levels"]


def stage_levels(spec: PipelineSpec) -> list[list[str]]:
    """Stage names by level; the stages of one level run at the same time."""
    levels = levels_or_cycle({n: stage_dependencies(s) for n, s in spec.stages.items()})
    assert not isinstance(levels, str)  # validated when the config was loaded
    return levels


def describe_stage(stage: ChatStage | RetrieveStage | ActStage) -> str:
    if isinstance(stage, ChatStage):
        schema = " → JSON schema" if stage.output_schema else ""
        return f"chat {stage.target}{schema}"
    if isinstance(stage, RetrieveStage):
        return f"retrieve {stage.collection} top-{stage.k}"
    source = f"plan {stage.plan}" if stage.plan else f"planned once by {stage.planner}"
    return f"act ({source})"


def draw(name: str, spec: PipelineSpec) -> str:
    """Levels top to bottom, each stage with what it calls and what it waits for."""
    lines = [f"pipeline:{name}" + (f" — {spec.description}" if spec.description else "")]
    for i, level in enumerate(stage_levels(spec)):
        together = " (concurrent)" if len(level) > 1 else ""
        lines.append(f"  level {i}{together}")
        for stage_name in level:
            stage = spec.stages[stage_name]
            waits = sorted(stage_dependencies(stage))
            after = f"  ← {', '.join(waits)}" if waits else ""
            mark = "  ⇒ answer" if stage_name == spec.answer_stage else ""
            lines.append(f"    [{stage_name}] {describe_stage(stage)}{after}{mark}")
    return "\n".join(lines)
