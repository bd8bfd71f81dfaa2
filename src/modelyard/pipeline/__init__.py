"""Pipelines as data: named, typed stages calling models, retrieval and actions (see docs/pipelines.md).

Sits above the engine and the action layer; nothing below imports it.
"""

from modelyard.pipeline.errors import StageFailedError, StageOutputError
from modelyard.pipeline.explain import draw, stage_levels
from modelyard.pipeline.runner import PIPELINE_PREFIX, PipelineRunner

__all__ = ["PIPELINE_PREFIX", "PipelineRunner", "StageFailedError", "StageOutputError", "draw", "stage_levels"]
