"""Errors of pipelines; `ModelyardError`s like every other (see `modelyard.errors`).

ModelyardError
└── StageFailedError       a stage failed; names the pipeline, the stage and why (HTTP 502,
    │                      or the status of the error that caused it when that was the caller's)
    └── StageOutputError   a stage's answer never matched its output schema
"""

from __future__ import annotations

from modelyard.errors import ModelyardError

__all__ = ["StageFailedError", "StageOutputError"]


class StageFailedError(ModelyardError):
    status_code = 502
    error_type = "pipeline_stage_failed"

    def __init__(self, pipeline: str, stage: str, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(f"pipeline {pipeline!r}, stage {stage!r}: {reason}")
        self.pipeline = pipeline
        self.stage = stage
        self.reason = reason
        if status_code is not None:
            self.status_code = status_code


class StageOutputError(StageFailedError):
    """Every try answered something that is not JSON matching the stage's ``output_schema``."""

    def __init__(self, pipeline: str, stage: str, problems: list[str]) -> None:
        tries = "; ".join(f"[{i}] {p}" for i, p in enumerate(problems, 1))
        super().__init__(
            pipeline,
            stage,
            f"output does not match its schema after {len(problems)} tr{'y' if len(problems) == 1 else 'ies'}: {tries}",
        )
        self.problems = problems
