"""``actions:`` config → a `ToolSet`, its MCP connections, the fixed plans, and an `Executor`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from modelyard.actions.executor import Executor
from modelyard.actions.graph import ActionGraph
from modelyard.actions.store import SQLiteStepStore
from modelyard.actions.tools.base import Tool, ToolSet
from modelyard.actions.tools.http import HttpTool
from modelyard.actions.tools.mcp import McpServerConnection, McpTool
from modelyard.actions.tools.python import PythonTool, import_callable
from modelyard.config.actions import ActionSettings, HttpToolSpec, McpToolSpec, PythonToolSpec
from modelyard.config.errors_format import first_error
from modelyard.errors import ConfigError

__all__ = ["ActionLayer", "build_actions", "load_plans"]


class ActionLayer:
    """What ``actions:`` builds: the executor, its tools, the fixed plans; `aclose` ends MCP sessions."""

    def __init__(self, executor: Executor, plans: dict[str, ActionGraph], connections: list[McpServerConnection]):
        self.executor = executor
        self.tools = executor.tools
        self.plans = plans
        self.connections = connections

    async def aclose(self) -> None:
        await self.tools.aclose()
        for connection in self.connections:
            await connection.aclose()
        self.executor.store.close()


def load_plans(settings: ActionSettings, source: str | None = None) -> dict[str, ActionGraph]:
    """Every ``actions.plans`` entry as a validated `ActionGraph`; `ConfigError` with the key path."""
    plans: dict[str, ActionGraph] = {}
    for name, body in settings.plans.items():
        try:
            plans[name] = ActionGraph.model_validate(body)
        except ValidationError as exc:
            sub, reason = first_error(exc, ActionGraph)
            key = f"actions.plans.{name}" + (f".{sub}" if sub else "")
            raise ConfigError(reason, file=source, key=key) from None
    return plans


def build_actions(
    settings: ActionSettings,
    *,
    env: Mapping[str, str],
    source: str | None = None,
    extra_tools: list[Tool] | None = None,
) -> ActionLayer:
    """Build tools, connections (connected lazily, on first call), plans and the executor."""
    connections = {
        name: McpServerConnection(
            name,
            command=spec.command,
            args=spec.args,
            env=spec.env,
            url=spec.url,
            secret_env=spec.secret_env,
            secret_header=spec.secret_header,
            secret_prefix=spec.secret_prefix,
            environ=env,
        )
        for name, spec in settings.mcp_servers.items()
    }
    tools: list[Tool] = list(extra_tools or [])
    for name, spec in settings.tools.items():
        if isinstance(spec, HttpToolSpec):
            tools.append(
                HttpTool(
                    name,
                    method=spec.method,
                    url=spec.url,
                    input_schema=spec.input_schema,
                    side_effect=spec.side_effect,
                    secret_env=spec.secret_env,
                    secret_header=spec.secret_header,
                    secret_prefix=spec.secret_prefix,
                    headers=spec.headers,
                    lookup_url=spec.lookup_url,
                    description=spec.description,
                    env=env,
                )
            )
        elif isinstance(spec, PythonToolSpec):
            try:
                fn = import_callable(spec.callable)
            except ValueError as exc:
                raise ConfigError(str(exc), file=source, key=f"actions.tools.{name}.callable") from None
            tools.append(
                PythonTool(
                    name, fn, side_effect=spec.side_effect, input_schema=spec.input_schema, description=spec.description
                )
            )
        elif isinstance(spec, McpToolSpec):
            tools.append(
                McpTool(
                    name,
                    connections[spec.server],
                    tool=spec.tool,
                    side_effect=spec.side_effect,
                    input_schema=spec.input_schema,
                    key_argument=spec.key_argument,
                    description=spec.description,
                )
            )
    try:
        toolset = ToolSet(tools, allow=settings.allow)
    except ValueError as exc:
        raise ConfigError(str(exc), file=source, key="actions.tools") from None
    plans = load_plans(settings, source)
    for name, graph in plans.items():
        unknown = sorted({s.tool for s in graph.steps} - set(toolset.names()))
        if unknown:
            raise ConfigError(f"unknown tool(s) {', '.join(unknown)}", file=source, key=f"actions.plans.{name}")
    store_path: str | Path | None = None if settings.store == "default" else settings.store
    executor = Executor(toolset, SQLiteStepStore(store_path), max_parallel=settings.max_parallel)
    return ActionLayer(executor, plans, list(connections.values()))
