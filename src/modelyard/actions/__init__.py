"""The action layer (LAM): action graphs, a deterministic executor, and tools (Python, HTTP, MCP).

Sits above the engine (a planner is one engine call); nothing below imports it.
"""

from modelyard.actions.build import ActionLayer, build_actions, load_plans
from modelyard.actions.errors import ActionRunError, PlanError, ToolError, ToolNotAllowedError
from modelyard.actions.executor import Executor, idempotency_key
from modelyard.actions.graph import ActionGraph, ActionStep, Compensation, RetryPolicy, graph_json_schema
from modelyard.actions.plan import parse_plan, plan_once
from modelyard.actions.report import RunReport, StepError, StepReport
from modelyard.actions.store import SQLiteStepStore, StepStore
from modelyard.actions.tools.base import Tool, ToolSet
from modelyard.actions.tools.http import HttpTool
from modelyard.actions.tools.mcp import McpServerConnection, McpTool
from modelyard.actions.tools.python import PythonTool

__all__ = [
    "ActionGraph",
    "ActionLayer",
    "ActionRunError",
    "ActionStep",
    "Compensation",
    "Executor",
    "HttpTool",
    "McpServerConnection",
    "McpTool",
    "PlanError",
    "PythonTool",
    "RetryPolicy",
    "RunReport",
    "SQLiteStepStore",
    "StepError",
    "StepReport",
    "StepStore",
    "Tool",
    "ToolError",
    "ToolNotAllowedError",
    "ToolSet",
    "build_actions",
    "graph_json_schema",
    "idempotency_key",
    "load_plans",
    "parse_plan",
    "plan_once",
]
