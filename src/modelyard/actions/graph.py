"""An action graph: a DAG of tool calls, declared as data.

A planner (an LLM or LAM stage, called once) writes one as JSON, or a config
gives it directly; `ActionGraph.model_validate` checks it. A step's ``args``
may reference run inputs (``{{inputs.quarter}}``) and earlier results
(``{{steps.crm.result.total}}``); a reference to a step makes it a dependency,
as ``depends_on`` does. `graph_json_schema` is the JSON schema to hand a
planner (``response_format``) — the same model validates what comes back.

Shape::

    {"goal": "Q1 board report",
     "steps": [
       {"id": "crm", "tool": "crm.pipeline", "args": {"quarter": "{{inputs.quarter}}"}},
       {"id": "pay", "tool": "payments.revenue", "args": {"quarter": "{{inputs.quarter}}"},
        "retry": {"attempts": 4}},
       {"id": "publish", "tool": "crm.publish", "needs_approval": true,
        "args": {"pipeline": "{{steps.crm.result.total}}", "revenue": "{{steps.pay.result.total}}"},
        "compensate": {"tool": "crm.unpublish", "args": {"id": "{{steps.publish.result.id}}"}}}],
     "output": {"revenue": "{{steps.pay.result.total}}"}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelyard.actions.dag import CycleError, levels
from modelyard.actions.refs import referenced_names

__all__ = ["RETRYABLE_KINDS", "ActionGraph", "ActionStep", "Compensation", "RetryPolicy", "graph_json_schema"]

#: error kinds retried unless a policy says otherwise: the ones a later attempt can cure
RETRYABLE_KINDS = ("timeout", "connection", "server", "rate_limited")

_ID = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class RetryPolicy(BaseModel):
    """How often a step is tried, on which error kinds, and how long to wait between tries.

    The wait before try n+1 is ``backoff_s * 2**(n-1)`` capped at ``max_backoff_s``,
    or the tool's Retry-After when it said one (also capped by the run's deadline).
    """

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(default=3, ge=1, le=20, description="tries in all, the first included")
    on: list[str] = Field(
        default_factory=lambda: list(RETRYABLE_KINDS),
        description="error kinds worth another try: timeout, connection, server, rate_limited, "
        "bad_request, auth, tool, schema",
    )
    backoff_s: float = Field(default=0.2, ge=0)
    max_backoff_s: float = Field(default=10.0, ge=0)


class Compensation(BaseModel):
    """The call that undoes a finished step when the run fails later (a saga's compensating step)."""

    model_config = ConfigDict(extra="forbid")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class ActionStep(BaseModel):
    """One tool call. ``args`` may hold ``{{inputs.x}}`` and ``{{steps.<id>.result…}}`` references."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID, description="unique in the graph; letters, digits, _ and -")
    tool: str = Field(min_length=1, description="a tool name the executor knows (and the tenant may use)")
    args: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list, description="steps that must finish first")
    description: str = ""
    timeout_s: float = Field(default=30.0, gt=0, le=3600, description="per try")
    retry: RetryPolicy | None = Field(default=None, description="this step's policy; else the graph's")
    needs_approval: bool = Field(default=False, description="park until approved (run again with approve=[id])")
    compensate: Compensation | None = None

    def dependencies(self) -> set[str]:
        """``depends_on`` plus every step ``args`` references."""
        return set(self.depends_on) | referenced_names(self.args, "steps")


class ActionGraph(BaseModel):
    """A DAG of steps. Validation checks unique ids, known dependencies and no cycle."""

    model_config = ConfigDict(extra="forbid")
    goal: str = ""
    steps: list[ActionStep] = Field(min_length=1)
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="default policy for every step")
    output: Any = Field(default=None, description="the run's result, with references to step results")

    @model_validator(mode="after")
    def _check(self) -> ActionGraph:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)}")
        known = set(ids)
        for index, step in enumerate(self.steps):
            unknown = sorted(step.dependencies() - known)
            if unknown:
                raise ValueError(f"steps.{index} ({step.id}): depends on unknown step(s) {', '.join(unknown)}")
            if step.id in step.dependencies():
                raise ValueError(f"steps.{index} ({step.id}): depends on itself")
            if step.compensate is not None:
                extra = referenced_names(step.compensate.args, "steps") - known
                if extra:
                    raise ValueError(
                        f"steps.{index} ({step.id}).compensate: unknown step(s) {', '.join(sorted(extra))}"
                    )
        unknown_out = sorted(referenced_names(self.output, "steps") - known)
        if unknown_out:
            raise ValueError(f"output: references unknown step(s) {', '.join(unknown_out)}")
        try:
            self.levels()
        except CycleError as exc:
            raise ValueError(str(exc)) from None
        return self

    def step(self, step_id: str) -> ActionStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def levels(self) -> list[list[str]]:
        """Step ids by level: every step's dependencies sit in earlier levels."""
        return levels({s.id: s.dependencies() for s in self.steps})

    def policy(self, step: ActionStep) -> RetryPolicy:
        return step.retry or self.retry


def graph_json_schema() -> dict[str, Any]:
    """The JSON schema of `ActionGraph`, for a planner's ``response_format``."""
    return ActionGraph.model_json_schema()
