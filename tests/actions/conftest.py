from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelyard.actions import HttpTool, SQLiteStepStore, ToolSet
from modelyard.testing.services import LoopbackService, board_services


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[dict[str, LoopbackService]]:
    services = board_services(log_dir=tmp_path)
    for service in services.values():
        await service.start()
    try:
        yield services
    finally:
        for service in services.values():
            await service.stop()


def board_tools(board: dict[str, LoopbackService]) -> list[HttpTool]:
    """HTTP tools over the three stand-ins (lookup over /_effects for the side-effecting one)."""
    crm, pay, ana = board["crm"].url, board["payments"].url, board["analytics"].url
    schema = {"type": "object", "properties": {"quarter": {"enum": ["Q1", "Q2", "Q3", "Q4"]}}, "required": ["quarter"]}
    return [
        HttpTool("crm.pipeline", method="GET", url=f"{crm}/pipeline", input_schema=schema),
        HttpTool("payments.revenue", method="GET", url=f"{pay}/revenue", input_schema=schema),
        HttpTool("analytics.usage", method="GET", url=f"{ana}/usage", input_schema=schema),
        HttpTool("crm.publish", method="POST", url=f"{crm}/notes", lookup_url=f"{crm}/_effects/{{idempotency_key}}"),
        HttpTool("crm.unpublish", method="DELETE", url=f"{crm}/notes/{{id}}"),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStepStore]:
    steps = SQLiteStepStore(tmp_path / "steps.db")
    yield steps
    steps.close()


@pytest.fixture
async def toolset(board: dict[str, LoopbackService]) -> AsyncIterator[ToolSet]:
    tools = ToolSet(board_tools(board))
    try:
        yield tools
    finally:
        await tools.aclose()
