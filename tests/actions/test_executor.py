"""The executor over real loopback HTTP services and Python tools: order, parallelism, retries, gates, reports."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelyard.actions import (
    ActionGraph,
    ActionRunError,
    Executor,
    PythonTool,
    SQLiteStepStore,
    ToolError,
    ToolNotAllowedError,
    ToolSet,
    idempotency_key,
)
from modelyard.errors import RequestError
from modelyard.testing.services import LoopbackService, ServiceFault
from modelyard.types import RequestTrace

from .conftest import board_tools

BOARD = {
    "goal": "quarterly board report",
    "steps": [
        {"id": "crm", "tool": "crm.pipeline", "args": {"quarter": "{{inputs.quarter}}"}},
        {"id": "pay", "tool": "payments.revenue", "args": {"quarter": "{{inputs.quarter}}"}},
        {"id": "usage", "tool": "analytics.usage", "args": {"quarter": "{{inputs.quarter}}"}},
        {
            "id": "publish",
            "tool": "crm.publish",
            "args": {
                "title": "Board report {{inputs.quarter}}",
                "revenue": "{{steps.pay.result.revenue_usd}}",
                "pipeline": "{{steps.crm.result.pipeline_usd}}",
                "dau": "{{steps.usage.result.dau}}",
            },
        },
    ],
    "retry": {"attempts": 3, "backoff_s": 0.01},
    "output": {"note": "{{steps.publish.result.id}}", "revenue": "{{steps.pay.result.revenue_usd}}"},
}


async def test_board_graph_runs_in_order_with_references(
    board: dict[str, LoopbackService], toolset: ToolSet, store: SQLiteStepStore
) -> None:
    trace = RequestTrace(request_id="req-test")
    report = await Executor(toolset, store).run(
        ActionGraph.model_validate(BOARD), inputs={"quarter": "Q2"}, trace=trace
    )
    assert report.status == "done", report.summary()
    assert report.output == {"note": "note-1", "revenue": 1_040_000}
    assert report.plan == [["crm", "pay", "usage"], ["publish"]]
    posted = board["crm"].requests("POST /notes")
    assert len(posted) == 1
    assert posted[0]["body"]["revenue"] == 1_040_000  # a number stays a number through a whole-string reference
    assert posted[0]["idempotency_key"] == idempotency_key(report.run_id, "publish")
    assert all(r["idempotency_key"] is None for r in board["payments"].requests())  # reads carry no key
    assert trace.details["actions"]["status"] == "done"
    assert [e.kind for e in trace.events].count("action.step") == 4


@pytest.mark.parametrize(
    ("fault", "attempts", "status", "min_wait_s"),
    [
        pytest.param(ServiceFault("GET /revenue", status=503, times=2), 3, "done", 0.0, id="503-twice-then-ok"),
        pytest.param(
            ServiceFault("GET /revenue", status=429, retry_after=0.4), 2, "done", 0.4, id="429-honours-retry-after"
        ),
        pytest.param(ServiceFault("GET /revenue", status=400, times=5), 1, "failed", 0.0, id="400-not-retried"),
        pytest.param(ServiceFault("GET /revenue", status=503, times=5), 3, "failed", 0.0, id="503-exhausts-tries"),
        pytest.param(ServiceFault("GET /revenue", latency_ms=1500), 2, "done", 0.0, id="timeout-retried"),
    ],
)
async def test_retries_follow_the_error_kind(
    board: dict[str, LoopbackService],
    toolset: ToolSet,
    store: SQLiteStepStore,
    fault: ServiceFault,
    attempts: int,
    status: str,
    min_wait_s: float,
) -> None:
    board["payments"].inject(fault)
    graph = ActionGraph.model_validate(
        {
            "steps": [{"id": "pay", "tool": "payments.revenue", "args": {"quarter": "Q1"}, "timeout_s": 0.5}],
            "retry": {"attempts": 3, "backoff_s": 0.01},
        }
    )
    started = time.monotonic()
    report = await Executor(toolset, store).run(graph)
    elapsed = time.monotonic() - started
    step = report.step("pay")
    assert (report.status, step.attempts) == (status, attempts), report.summary()
    assert len(board["payments"].requests("GET /revenue")) == attempts
    assert elapsed >= min_wait_s
    if status == "failed":
        assert report.failed_step == "pay"
        assert "'pay'" in report.summary() and f"after {attempts} attempt" in report.summary()
        assert len(step.errors) == attempts


async def test_independent_python_steps_run_in_parallel_and_side_effects_get_keys(store: SQLiteStepStore) -> None:
    import asyncio

    seen: list[dict[str, Any]] = []

    async def slow(x: int) -> int:
        await asyncio.sleep(0.4)
        return x * 2

    def record(total: int, idempotency_key: str) -> dict[str, Any]:
        seen.append({"total": total, "key": idempotency_key})
        return {"ok": True}

    tools = ToolSet([PythonTool("double", slow), PythonTool("record", record, side_effect=True)])
    graph = ActionGraph.model_validate(
        {
            "steps": [
                {"id": "a", "tool": "double", "args": {"x": 1}},
                {"id": "b", "tool": "double", "args": {"x": 2}},
                {"id": "c", "tool": "double", "args": {"x": 3}},
                {"id": "sum", "tool": "record", "args": {"total": "{{steps.c.result}}"}, "depends_on": ["a", "b"]},
            ]
        }
    )
    started = time.monotonic()
    report = await Executor(tools, store).run(graph, run_id="run-par")
    elapsed = time.monotonic() - started
    assert report.status == "done"
    assert elapsed < 0.9, f"three 0.4 s steps took {elapsed:.2f} s: not parallel"
    assert seen == [{"total": 6, "key": idempotency_key("run-par", "sum")}]


async def test_python_tool_errors_map_to_kinds(store: SQLiteStepStore) -> None:
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset by peer")
        return "ok"

    def broken() -> None:
        raise RuntimeError("bad data")

    tools = ToolSet([PythonTool("flaky", flaky), PythonTool("broken", broken)])
    executor = Executor(tools, store)
    ok = await executor.run(ActionGraph.model_validate({"steps": [{"id": "f", "tool": "flaky"}]}))
    assert (ok.status, ok.step("f").attempts, ok.step("f").result) == ("done", 3, "ok")
    bad = await executor.run(ActionGraph.model_validate({"steps": [{"id": "b", "tool": "broken"}]}))
    assert bad.status == "failed" and bad.step("b").attempts == 1  # kind "tool" is not retried by default
    assert bad.step("b").errors[0].kind == "tool" and "RuntimeError: bad data" in bad.step("b").errors[0].message


async def test_failure_runs_declared_compensations_and_skips_dependents(
    board: dict[str, LoopbackService], toolset: ToolSet, store: SQLiteStepStore
) -> None:
    board["analytics"].inject(ServiceFault("GET /usage", status=503, times=10))
    graph = ActionGraph.model_validate(
        {
            "steps": [
                {
                    "id": "publish",
                    "tool": "crm.publish",
                    "args": {"title": "draft"},
                    "compensate": {"tool": "crm.unpublish", "args": {"id": "{{result.id}}"}},
                },
                {"id": "usage", "tool": "analytics.usage", "args": {"quarter": "Q1"}, "depends_on": ["publish"]},
                {"id": "after", "tool": "crm.pipeline", "args": {"quarter": "Q1"}, "depends_on": ["usage"]},
            ],
            "retry": {"attempts": 2, "backoff_s": 0.01},
        }
    )
    with pytest.raises(ActionRunError) as caught:
        await Executor(toolset, store).run(graph, raise_on_failure=True)
    report = caught.value.report
    assert report.failed_step == "usage"
    assert report.compensated == ["publish"]
    assert report.step("after").status == "skipped"
    assert [r["path"] for r in board["crm"].requests("DELETE /notes/{id}")] == ["/notes/note-1"]
    assert not board["crm"].requests("GET /pipeline")


async def test_approval_gate_parks_then_resumes(
    board: dict[str, LoopbackService], toolset: ToolSet, store: SQLiteStepStore
) -> None:
    graph = ActionGraph.model_validate(
        {
            "steps": [
                {"id": "crm", "tool": "crm.pipeline", "args": {"quarter": "Q1"}},
                {
                    "id": "publish",
                    "tool": "crm.publish",
                    "needs_approval": True,
                    "args": {"title": "{{steps.crm.result.quarter}} report"},
                },
            ]
        }
    )
    executor = Executor(toolset, store)
    first = await executor.run(graph, run_id="run-gate")
    assert first.status == "awaiting_approval"
    assert first.step("publish").status == "awaiting_approval"
    assert not board["crm"].requests("POST /notes")
    second = await executor.resume("run-gate", approve=["publish"])
    assert second.status == "done"
    assert second.step("crm").resumed  # not fetched again
    assert len(board["crm"].requests("GET /pipeline")) == 1
    assert board["crm"].requests("POST /notes")[0]["body"] == {"title": "Q1 report"}


async def test_dry_run_calls_nothing(
    board: dict[str, LoopbackService], toolset: ToolSet, store: SQLiteStepStore
) -> None:
    report = await Executor(toolset, store).run(
        ActionGraph.model_validate(BOARD), inputs={"quarter": "Q1"}, dry_run=True, run_id="run-dry"
    )
    assert report.status == "dry_run"
    assert report.plan == [["crm", "pay", "usage"], ["publish"]]
    assert "would call crm.pipeline with args {'quarter': 'Q1'}" in report.step("crm").note
    assert report.step("publish").idempotency_key == idempotency_key("run-dry", "publish")
    assert all(not s.requests() for s in board.values())
    assert store.load_run("run-dry") is None


@pytest.mark.parametrize(
    ("allow", "tenant", "refused"),
    [
        ({"*": ["crm.pipeline"]}, "team-a", ["analytics.usage", "crm.publish", "payments.revenue"]),
        ({"finance": ["crm.pipeline", "payments.revenue", "analytics.usage"]}, "finance", ["crm.publish"]),
        ({"finance": ["crm.pipeline"]}, None, ["analytics.usage", "crm.pipeline", "crm.publish", "payments.revenue"]),
    ],
)
async def test_tenant_allow_lists_refuse_before_anything_runs(
    board: dict[str, LoopbackService],
    store: SQLiteStepStore,
    allow: dict[str, list[str]],
    tenant: str | None,
    refused: list[str],
) -> None:
    tools = ToolSet(board_tools(board), allow=allow)
    with pytest.raises(ToolNotAllowedError) as caught:
        await Executor(tools, store).run(ActionGraph.model_validate(BOARD), inputs={"quarter": "Q1"}, tenant=tenant)
    await tools.aclose()
    assert caught.value.tools == refused
    assert all(not s.requests() for s in board.values())


async def test_unknown_tool_and_bad_graphs_are_refused(toolset: ToolSet, store: SQLiteStepStore) -> None:
    with pytest.raises(RequestError, match="unknown tool"):
        await Executor(toolset, store).run(ActionGraph.model_validate({"steps": [{"id": "x", "tool": "nope"}]}))
    with pytest.raises(ValueError, match="cycle"):
        ActionGraph.model_validate(
            {"steps": [{"id": "a", "tool": "t", "depends_on": ["b"]}, {"id": "b", "tool": "t", "depends_on": ["a"]}]}
        )
    with pytest.raises(ValueError, match="unknown step"):
        ActionGraph.model_validate({"steps": [{"id": "a", "tool": "t", "args": {"x": "{{steps.zz.result}}"}}]})


async def test_schema_invalid_args_are_never_sent(
    board: dict[str, LoopbackService], toolset: ToolSet, store: SQLiteStepStore
) -> None:
    graph = ActionGraph.model_validate(
        {"steps": [{"id": "pay", "tool": "payments.revenue", "args": {"quarter": "Q9"}}]}
    )
    report = await Executor(toolset, store).run(graph)
    assert report.status == "failed"
    assert report.step("pay").errors[0].kind == "schema"
    assert "quarter" in report.step("pay").errors[0].message
    assert not board["payments"].requests()


async def test_in_doubt_side_effect_without_lookup_is_not_sent_twice(store: SQLiteStepStore) -> None:
    sent: list[str] = []

    async def charge(idempotency_key: str) -> None:
        sent.append(idempotency_key)
        raise ToolError("connection lost after sending", kind="connection", in_doubt=True)

    tools = ToolSet([PythonTool("charge", charge, side_effect=True)])
    report = await Executor(tools, store).run(ActionGraph.model_validate({"steps": [{"id": "c", "tool": "charge"}]}))
    assert report.status == "failed"
    assert len(sent) == 1
    assert report.step("c").errors[-1].kind == "in_doubt"
