"""HTTP tools over real sockets: secrets from the environment, never shown; status → error kind."""

from __future__ import annotations

import pytest

from modelyard.actions import ActionGraph, Executor, HttpTool, SQLiteStepStore, ToolError, ToolSet
from modelyard.actions.tools.http import parse_retry_after
from modelyard.testing.services import LoopbackService, ServiceFault

SECRET = "sk-test-7f3a9c1e55d2"


async def test_secret_is_sent_from_env_and_never_shown() -> None:
    async with LoopbackService("crm", {"GET /pipeline": lambda a: {"ok": a["query"]}}, token=SECRET) as crm:
        tool = HttpTool(
            "crm", method="GET", url=f"{crm.url}/pipeline", secret_env="CRM_TOKEN", env={"CRM_TOKEN": SECRET}
        )
        assert await tool.call({"quarter": "Q1"}, idempotency_key=None) == {"ok": {"quarter": "Q1"}}
        assert SECRET not in repr(tool)
        wrong = HttpTool("crm", method="GET", url=f"{crm.url}/pipeline", secret_env="CRM_TOKEN", env={"CRM_TOKEN": "x"})
        with pytest.raises(ToolError) as caught:
            await wrong.call({}, idempotency_key=None)
        assert caught.value.kind == "auth" and SECRET not in str(caught.value)
        unset = HttpTool("crm", method="GET", url=f"{crm.url}/pipeline", secret_env="CRM_TOKEN", env={})
        with pytest.raises(ToolError, match="CRM_TOKEN is not set"):
            await unset.call({}, idempotency_key=None)
        for t in (tool, wrong, unset):
            await t.aclose()


@pytest.mark.parametrize(
    ("status", "kind", "retry_after"),
    [
        (429, "rate_limited", 2.0),
        (503, "server", None),
        (401, "auth", None),
        (404, "bad_request", None),
        (408, "timeout", None),
    ],
)
async def test_status_maps_to_kind(status: int, kind: str, retry_after: float | None) -> None:
    async with LoopbackService("pay", {"POST /charges": lambda a: {"id": 1}}) as pay:
        pay.inject(ServiceFault("POST /charges", status=status, retry_after=retry_after))
        tool = HttpTool("pay", method="POST", url=f"{pay.url}/charges")
        with pytest.raises(ToolError) as caught:
            await tool.call({"amount": 5}, idempotency_key="k-1")
        await tool.aclose()
        assert (caught.value.kind, caught.value.retry_after) == (kind, retry_after)
        assert pay.requests()[0]["idempotency_key"] == "k-1"
        assert pay.requests()[0]["body"] == {"amount": 5}


async def test_url_placeholders_and_refused_connection(tmp_path: object) -> None:
    async with LoopbackService("crm", {"DELETE /notes/{id}": lambda a: {"deleted": a["id"]}}) as crm:
        tool = HttpTool("del", method="DELETE", url=f"{crm.url}/notes/{{id}}")
        assert tool.side_effect
        assert await tool.call({"id": "note 7"}, idempotency_key="k") == {"deleted": "note 7"}
        await tool.aclose()
    gone = HttpTool("gone", method="GET", url=crm.url + "/pipeline")
    store = SQLiteStepStore(":memory:")
    report = await Executor(ToolSet([gone]), store).run(
        ActionGraph.model_validate({"steps": [{"id": "g", "tool": "gone"}], "retry": {"attempts": 2, "backoff_s": 0}})
    )
    await gone.aclose()
    assert [e.kind for e in report.step("g").errors] == ["connection", "connection"]


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), ("0.5", 0.5), ("nonsense", None), (None, None), ("-2", 0.0)]
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected
