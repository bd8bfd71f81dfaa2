"""MCP servers as tools, through the official ``mcp`` SDK (stdio and streamable HTTP).

`McpServerConnection` owns one client session per configured server: a task
enters the SDK's ``Client`` context and holds it until `aclose`, so many steps
share one session (one subprocess for stdio) and the SDK's task groups are
entered and left in the same task. `McpTool` is one tool on it.

Idempotency keys travel in the request's ``_meta`` (``modelyard/idempotency-key``)
and, when ``key_argument`` names one, as a tool argument too (for servers whose
tools take the key as a parameter). The secret for streamable HTTP is read
from ``secret_env`` and sent as a header; it is never logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.actions.errors import ToolError
from modelyard.actions.tools.base import Lookup

if TYPE_CHECKING:
    from mcp import Client

__all__ = ["IDEMPOTENCY_META_KEY", "McpServerConnection", "McpTool"]

IDEMPOTENCY_META_KEY = "modelyard/idempotency-key"
_INSTALL_HINT = "MCP tools need the official SDK: pip install 'mcp>=2'"


class McpServerConnection:
    """One MCP server: ``command`` (+``args``, ``env``) for stdio, or ``url`` for streamable HTTP."""

    def __init__(
        self,
        name: str,
        *,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        url: str | None = None,
        secret_env: str | None = None,
        secret_header: str = "Authorization",
        secret_prefix: str = "Bearer ",
        connect_timeout_s: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if (command is None) == (url is None):
            raise ValueError(f"MCP server {name!r}: give exactly one of command (stdio) or url (streamable HTTP)")
        self.name = name
        self.command = command
        self.args = list(args)
        self.env = dict(env or {})
        self.url = url
        self.secret_env = secret_env
        self.secret_header = secret_header
        self.secret_prefix = secret_prefix
        self.connect_timeout_s = connect_timeout_s
        self._environ = environ if environ is not None else os.environ
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        where = f"stdio {self.command}" if self.command else f"http {self.url}"
        return f"McpServerConnection({self.name!r}, {where})"

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "streamable-http"

    def _headers(self) -> dict[str, str]:
        if self.secret_env is None:
            return {}
        secret = self._environ.get(self.secret_env)
        if not secret:
            raise ToolError(f"{self.name}: environment variable {self.secret_env} is not set", kind="auth")
        return {self.secret_header: f"{self.secret_prefix}{secret}"}

    async def _own(self) -> None:
        try:
            from mcp import Client
            from mcp.client.stdio import StdioServerParameters
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client
        except ImportError as exc:  # pragma: no cover - mcp is a dependency
            self._error = ImportError(f"{_INSTALL_HINT} ({exc})")
            self._ready.set()
            return
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.command is not None:
                    target: Any = StdioServerParameters(command=self.command, args=self.args, env=self.env or None)
                else:
                    assert self.url is not None
                    http = await stack.enter_async_context(create_mcp_http_client(headers=self._headers() or None))
                    target = streamable_http_client(self.url, http_client=http)
                client = await stack.enter_async_context(Client(target))
                self._client = client
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # handed to whoever waits for the connection
            self._error = exc
        finally:
            self._client = None
            self._ready.set()

    async def client(self) -> Client:
        """The live session, connecting on first use; `ToolError` (connection) when it cannot."""
        async with self._lock:
            if self._owner is None or (self._owner.done() and self._client is None):
                self._ready.clear()
                self._stop.clear()
                self._error = None
                self._owner = asyncio.get_running_loop().create_task(self._own(), name=f"mcp:{self.name}")
            try:
                await asyncio.wait_for(self._ready.wait(), self.connect_timeout_s)
            except TimeoutError:
                raise ToolError(f"{self.name}: MCP server did not connect in time", kind="connection") from None
            if self._client is None:
                why = f"{type(self._error).__name__}: {self._error}" if self._error else "closed"
                self._owner = None
                raise ToolError(f"{self.name}: cannot reach MCP server ({why[:200]})", kind="connection")
            return self._client

    async def list_tools(self) -> list[str]:
        client = await self.client()
        return [t.name for t in (await client.list_tools()).tools]

    async def aclose(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(owner, 10.0)
            except (TimeoutError, asyncio.CancelledError):
                owner.cancel()


class McpTool:
    """One tool of an MCP server. ``tool`` is its name on the server (default: ``name``)."""

    def __init__(
        self,
        name: str,
        server: McpServerConnection,
        *,
        tool: str | None = None,
        side_effect: bool = False,
        input_schema: dict[str, Any] | None = None,
        key_argument: str | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.server = server
        self.tool = tool or name
        self.side_effect = side_effect
        self.input_schema = input_schema
        self.key_argument = key_argument
        self.description = description or f"MCP {server.name}/{self.tool}"

    def __repr__(self) -> str:
        return f"McpTool({self.name!r}, server={self.server.name!r}, tool={self.tool!r})"

    async def call(self, args: dict[str, Any], *, idempotency_key: str | None) -> Any:
        from mcp.shared.exceptions import MCPError

        client = await self.server.client()
        arguments = dict(args)
        meta: dict[str, Any] | None = None
        if idempotency_key is not None:
            meta = {IDEMPOTENCY_META_KEY: idempotency_key}
            if self.key_argument:
                arguments[self.key_argument] = idempotency_key
        try:
            result = await client.call_tool(self.tool, arguments, meta=meta)  # type: ignore[arg-type]
        except MCPError as exc:
            raise ToolError(
                f"{self.name}: MCP error {exc.error.code}: {exc.error.message[:200]}", kind="tool"
            ) from None
        except (OSError, EOFError) as exc:
            raise ToolError(f"{self.name}: {type(exc).__name__}: {exc}", kind="connection", in_doubt=True) from None
        texts = [getattr(block, "text", "") for block in result.content if getattr(block, "type", "") == "text"]
        if result.is_error:
            raise ToolError(f"{self.name}: {' '.join(texts)[:300] or 'the tool reported an error'}", kind="tool")
        if result.structured_content is not None:
            content = result.structured_content
            if isinstance(content, dict) and set(content) == {"result"}:  # the SDK wraps plain return values
                return content["result"]
            return content
        text = "\n".join(texts)
        try:
            return json.loads(text)
        except ValueError:
            return text

    async def lookup(self, idempotency_key: str) -> Lookup:
        return None

    async def aclose(self) -> None:
        return None  # the connection is closed by whoever owns it (the `ToolSet` builder)
