"""What a run did, step by step: the executor's answer and the failure report."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RunReport", "RunStatus", "StepError", "StepReport", "StepStatus"]

StepStatus = Literal["pending", "running", "done", "failed", "awaiting_approval", "skipped", "compensated"]
RunStatus = Literal["running", "done", "failed", "awaiting_approval", "dry_run"]


class StepError(BaseModel):
    """One failed try of a step."""

    model_config = ConfigDict(extra="forbid")
    attempt: int
    kind: str
    message: str
    retry_after: float | None = None


class StepReport(BaseModel):
    """One step's state (also what the `StepStore` keeps)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    tool: str
    status: StepStatus = "pending"
    attempts: int = 0
    errors: list[StepError] = Field(default_factory=list)
    result: Any = None
    idempotency_key: str | None = None
    side_effect: bool = False
    latency_ms: float = 0.0
    resumed: bool = Field(default=False, description="finished in an earlier process; not run again")
    note: str = ""


class RunReport(BaseModel):
    """A run: its status, every step, the failed step (if any) and the output."""

    model_config = ConfigDict(extra="forbid")
    run_id: str
    status: RunStatus
    goal: str = ""
    steps: list[StepReport] = Field(default_factory=list)
    failed_step: str | None = None
    output: Any = None
    compensated: list[str] = Field(default_factory=list, description="steps whose compensation ran, in order")
    plan: list[list[str]] = Field(default_factory=list, description="step ids by level (dry runs and reports)")

    def step(self, step_id: str) -> StepReport:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def summary(self) -> str:
        """One line: the status and, for a failed run, the step, its attempts and every error."""
        if self.failed_step is None:
            waiting = [s.id for s in self.steps if s.status == "awaiting_approval"]
            extra = f"; awaiting approval: {', '.join(waiting)}" if waiting else ""
            return f"run {self.run_id}: {self.status}{extra}"
        step = self.step(self.failed_step)
        errors = "; ".join(f"[{e.attempt}] {e.kind}: {e.message}" for e in step.errors) or step.note
        undo = f"; compensated: {', '.join(self.compensated)}" if self.compensated else ""
        return (
            f"run {self.run_id} failed at step {step.id!r} (tool {step.tool}) after "
            f"{step.attempts} attempt{'s' if step.attempts != 1 else ''}: {errors}{undo}"
        )
