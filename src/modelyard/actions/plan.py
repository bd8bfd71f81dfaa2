"""Plan once: ask a model for an action graph, validate it, never ask again.

The planner gets the task, the tools it may use (name, description, input
schema, side effect) and the graph's JSON schema (as ``response_format``). Its
answer must parse as JSON and validate as an `ActionGraph` naming only allowed
tools, or `PlanError` says what is wrong — nothing runs. The executor never
calls the planner again, whatever fails later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from modelyard.actions.errors import PlanError
from modelyard.actions.graph import ActionGraph, graph_json_schema
from modelyard.actions.tools.base import ToolSet
from modelyard.types import ChatRequest, ChatResponse, Message

__all__ = ["parse_plan", "plan_once", "planner_request"]

Chat = Callable[[ChatRequest], Awaitable[ChatResponse]]
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def planner_request(task: str, tools: ToolSet, tenant: str | None, *, model: str) -> ChatRequest:
    """The one request a planner gets."""
    allowed = tools.allowed(tenant)
    catalogue = [
        {
            "name": name,
            "description": tools[name].description,
            "side_effect": tools[name].side_effect,
            "input_schema": tools[name].input_schema,
        }
        for name in tools.names()
        if name in allowed
    ]
    system = (
        "You plan tool calls. Answer with one JSON object: an action graph (the schema is given). "
        "Each step calls one tool; use depends_on and {{steps.ID.result...}} references for data that "
        "earlier steps produce. The graph is executed as written and never re-planned.\n"
        f"Tools: {json.dumps(catalogue)}"
    )
    return ChatRequest(
        model=model,
        messages=[Message(role="system", content=system), Message(role="user", content=task)],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "action_graph", "schema": graph_json_schema()},
        },
        temperature=0,
    )


def parse_plan(text: str, tools: ToolSet, tenant: str | None) -> ActionGraph:
    """The planner's text → a checked `ActionGraph`; `PlanError` naming the problem."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PlanError(f"the planner's answer is not JSON ({exc.msg} at char {exc.pos})") from None
    try:
        graph = ActionGraph.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(graph)"
        raise PlanError(f"the planner's graph is invalid at {where}: {first['msg']}") from None
    unknown = sorted({s.tool for s in graph.steps} - set(tools.names()))
    if unknown:
        raise PlanError(f"the planner's graph names unknown tool(s) {', '.join(unknown)}")
    tools.check({s.tool for s in graph.steps}, tenant)
    return graph


async def plan_once(chat: Chat, task: str, tools: ToolSet, *, tenant: str | None, model: str) -> ActionGraph:
    """Call the planner exactly once and return its validated graph."""
    response = await chat(planner_request(task, tools, tenant, model=model))
    return parse_plan(response.text, tools, tenant)
