"""Errors of the action layer; all are `ModelyardError`s (see `modelyard.errors` for the tree).

ModelyardError
├── ToolError              one tool call failed; ``kind`` picks the retry policy
├── ActionRunError         a run ended failed; ``report`` names step, attempts, errors
├── PlanError              the planner's output is not a valid action graph (HTTP 502)
└── RequestError
    └── ToolNotAllowedError  the tenant may not use a tool the graph names (HTTP 403)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError, RequestError

if TYPE_CHECKING:
    from modelyard.actions.report import RunReport

__all__ = ["TOOL_ERROR_KINDS", "ActionRunError", "PlanError", "ToolError", "ToolNotAllowedError"]

#: every ``ToolError.kind``
TOOL_ERROR_KINDS = (
    "timeout",  # no answer in time (the call may have happened: in doubt)
    "connection",  # refused, reset, dropped
    "server",  # the tool's 5xx
    "rate_limited",  # 429; ``retry_after`` when the tool said
    "bad_request",  # the tool refused the arguments (4xx)
    "auth",  # 401/403 from the tool
    "tool",  # the tool ran and reported failure (an exception, an MCP isError result)
    "schema",  # the arguments do not match the tool's input schema (never sent)
)


class ToolError(ModelyardError):
    """A tool call failed. Messages never hold secrets.

    ``in_doubt``: the call may have taken effect (a timeout or a dropped
    connection after the request was sent); the executor asks the tool's
    ``lookup`` before it sends a side-effecting call again.
    """

    status_code = 502
    error_type = "tool_error"

    def __init__(
        self, message: str, *, kind: str = "tool", retry_after: float | None = None, in_doubt: bool = False
    ) -> None:
        if kind not in TOOL_ERROR_KINDS:
            raise ValueError(f"unknown tool error kind {kind!r}; one of {', '.join(TOOL_ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class ToolNotAllowedError(RequestError):
    status_code = 403
    error_type = "permission_error"

    def __init__(self, tenant: str | None, tools: list[str]) -> None:
        who = f"tenant {tenant!r}" if tenant else "requests without a tenant"
        super().__init__(
            f"{who} may not use tool(s) {', '.join(tools)} (actions.allow)", param="model", code="tool_not_allowed"
        )
        self.tenant = tenant
        self.tools = tools


class PlanError(ModelyardError):
    """The planner answered something that is not a valid action graph. Nothing was executed."""

    status_code = 502
    error_type = "plan_error"


class ActionRunError(ModelyardError):
    """A run failed: ``report`` says which step, how many attempts and every error."""

    status_code = 502
    error_type = "action_failed"

    def __init__(self, report: RunReport) -> None:
        super().__init__(report.summary())
        self.report = report

    @property
    def details(self) -> dict[str, Any]:
        return self.report.model_dump(mode="json")
