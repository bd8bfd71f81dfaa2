"""The ``actions:`` section: tools (Python, HTTP, MCP), MCP servers, tenant allow-lists, fixed plans.

::

    actions:
      store: default                  # SQLite step store: $XDG_DATA_HOME/modelyard/actions.db, or a path
      allow: {"*": [crm.pipeline], finance: [crm.pipeline, payments.revenue]}
      mcp_servers:
        notes: {command: python, args: [-m, notes_server]}          # stdio
        search: {url: "http://127.0.0.1:9000/mcp", secret_env: SEARCH_TOKEN}  # streamable HTTP
      tools:
        crm.pipeline: {kind: http, method: GET, url: "http://crm.internal/pipeline/{quarter}",
                       secret_env: CRM_TOKEN}
        notes.add: {kind: mcp, server: notes, tool: add_note, side_effect: true}
        totals.sum: {kind: python, callable: "mypkg.tools:sum_totals"}
      plans:                          # fixed action graphs (see modelyard.actions.graph), by name
        board-report: {goal: ..., steps: [...]}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ActionSettings", "HttpToolSpec", "McpServerSpec", "McpToolSpec", "PythonToolSpec", "ToolSpec"]


class _ToolBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON schema the args must match")


class HttpToolSpec(_ToolBase):
    kind: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(pattern=r"^https?://", description="may hold {arg} placeholders")
    side_effect: bool | None = Field(default=None, description="default: true for every method but GET")
    secret_env: str | None = Field(default=None, description="environment variable holding the secret")
    secret_header: str = "Authorization"
    secret_prefix: str = "Bearer "
    headers: dict[str, str] = Field(default_factory=dict)
    lookup_url: str | None = Field(
        default=None, description="GET {idempotency_key}: 200 = took effect (body = result), 404 = did not"
    )


class PythonToolSpec(_ToolBase):
    kind: Literal["python"]
    callable: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="package.module:function")
    side_effect: bool = False


class McpToolSpec(_ToolBase):
    kind: Literal["mcp"]
    server: str = Field(description="a name under actions.mcp_servers")
    tool: str | None = Field(default=None, description="the tool's name on the server (default: this name)")
    side_effect: bool = False
    key_argument: str | None = Field(default=None, description="also pass the idempotency key as this argument")


ToolSpec = Annotated[HttpToolSpec | PythonToolSpec | McpToolSpec, Field(discriminator="kind")]


class McpServerSpec(BaseModel):
    """``command`` (+ ``args``, ``env``) for stdio, or ``url`` for streamable HTTP."""

    model_config = ConfigDict(extra="forbid")
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = Field(default=None, pattern=r"^https?://")
    secret_env: str | None = None
    secret_header: str = "Authorization"
    secret_prefix: str = "Bearer "

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        return self


class ActionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: str = Field(default="default", description="SQLite step store path; 'default' or ':memory:'")
    max_parallel: int = Field(default=8, ge=1, le=256)
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    allow: dict[str, list[str]] | None = Field(
        default=None, description="tenant → tool names; '*' for everyone else; unset = every tool for all"
    )
    plans: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="fixed action graphs by name (validated when the engine is built)"
    )

    @model_validator(mode="after")
    def _references(self) -> ActionSettings:
        for name, tool in self.tools.items():
            if isinstance(tool, McpToolSpec) and tool.server not in self.mcp_servers:
                raise ValueError(f"tools.{name}.server: no MCP server {tool.server!r} under mcp_servers")
        for tenant, names in (self.allow or {}).items():
            unknown = sorted(set(names) - set(self.tools))
            if unknown:
                raise ValueError(f"allow.{tenant}: unknown tool(s) {', '.join(unknown)}")
        return self
