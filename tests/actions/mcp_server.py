"""A real MCP server for the tests, on the official SDK (mcp 2.x ``MCPServer``, formerly FastMCP).

    python mcp_server.py stdio
    python mcp_server.py http PORT

Every ``add_note`` call is appended to $MCP_TEST_LOG (one JSON line), so a test
can count effects from outside the server process.
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("modelyard-test-tools")


def _log(entry: dict[str, object]) -> int:
    path = os.environ["MCP_TEST_LOG"]
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
    with open(path, encoding="utf-8") as read:
        return sum(1 for _ in read)


@server.tool()
def add_note(title: str, idempotency_key: str, ctx: Context) -> dict[str, object]:
    """Add a note (a side effect); answers its id."""
    meta = ctx.request_context.meta or {}
    seen_meta = meta.get("modelyard/idempotency-key") if isinstance(meta, dict) else None
    n = _log({"title": title, "key": idempotency_key, "meta_key": seen_meta})
    return {"id": f"note-{n}", "title": title, "meta_key": seen_meta}


@server.tool()
def total(values: list[float]) -> float:
    """Sum of the values."""
    return sum(values)


@server.tool()
def always_fails(reason: str) -> str:
    """Raises the SDK's ToolError, so the call comes back with isError and this message."""
    raise ToolError(f"refused: {reason}")


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
