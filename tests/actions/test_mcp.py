"""MCP tools against a real MCP server (official SDK), over stdio and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelyard.actions import ActionGraph, Executor, McpServerConnection, McpTool, SQLiteStepStore, ToolSet
from tests.net import free_port

SERVER = str(Path(__file__).with_name("mcp_server.py"))


@pytest.fixture(params=["stdio", "streamable-http"])
async def connection(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[McpServerConnection]:
    log = tmp_path / "mcp.jsonl"
    env = {"MCP_TEST_LOG": str(log)}
    process = None
    if request.param == "stdio":
        conn = McpServerConnection("notes", command=sys.executable, args=[SERVER, "stdio"], env=env)
    else:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            SERVER,
            "http",
            str(port),
            env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(200):  # until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                await asyncio.sleep(0.1)
        conn = McpServerConnection("notes", url=f"http://127.0.0.1:{port}/mcp")
    conn.log_path = log  # type: ignore[attr-defined]
    try:
        yield conn
    finally:
        await conn.aclose()
        if process is not None:
            process.terminate()
            await process.wait()


async def test_mcp_tools_in_an_action_graph(connection: McpServerConnection, tmp_path: Path) -> None:
    assert {"add_note", "total", "always_fails"} <= set(await connection.list_tools())
    tools = ToolSet(
        [
            McpTool("notes.add", connection, tool="add_note", side_effect=True, key_argument="idempotency_key"),
            McpTool("math.total", connection, tool="total"),
        ]
    )
    graph = ActionGraph.model_validate(
        {
            "steps": [
                {"id": "sum", "tool": "math.total", "args": {"values": [1.5, 2.5, 6]}},
                {"id": "note", "tool": "notes.add", "args": {"title": "total is {{steps.sum.result}}"}},
            ]
        }
    )
    store = SQLiteStepStore(tmp_path / "steps.db")
    report = await Executor(tools, store).run(graph, run_id="run-mcp")
    store.close()
    assert report.status == "done", report.summary()
    assert report.step("sum").result == 10.0
    note = report.step("note")
    text = await asyncio.to_thread(Path(connection.log_path).read_text)  # type: ignore[attr-defined]
    lines = [json.loads(x) for x in text.splitlines()]
    assert lines == [{"title": "total is 10.0", "key": note.idempotency_key, "meta_key": note.idempotency_key}]
    assert note.result["id"] == "note-1"


async def test_mcp_tool_error_fails_the_step_with_the_servers_message(
    connection: McpServerConnection, tmp_path: Path
) -> None:
    tools = ToolSet([McpTool("bad", connection, tool="always_fails")])
    store = SQLiteStepStore(tmp_path / "steps.db")
    report = await Executor(tools, store).run(
        ActionGraph.model_validate({"steps": [{"id": "b", "tool": "bad", "args": {"reason": "no"}}]})
    )
    store.close()
    assert report.status == "failed"
    error = report.step("b").errors[0]
    assert error.kind == "tool" and "refused: no" in error.message
    assert report.step("b").attempts == 1  # a tool's own error is not retried by default


async def test_unreachable_mcp_server_is_a_connection_error(tmp_path: Path) -> None:
    conn = McpServerConnection("gone", url=f"http://127.0.0.1:{free_port()}/mcp", connect_timeout_s=5)
    tools = ToolSet([McpTool("x", conn, tool="total")])
    store = SQLiteStepStore(tmp_path / "steps.db")
    report = await Executor(tools, store).run(
        ActionGraph.model_validate(
            {"steps": [{"id": "x", "tool": "x", "args": {"values": [1]}}], "retry": {"attempts": 2, "backoff_s": 0}}
        )
    )
    store.close()
    await conn.aclose()
    assert report.status == "failed"
    assert [e.kind for e in report.step("x").errors] == ["connection", "connection"]
