"""``modelyard report`` as a user runs it, over records written by real engine traffic.

The engine (SIMULATED models with fixed latencies and prices) answers a known
mix — plain calls, an expensive model, a fallback, a budget refusal, feedback
scores — into a SQLite and a JSONL sink. The report over either file must
agree with the engine's own traces: request count and total cost, each route's,
family's and model's volume, cost, latency floor, quality and fallback rate,
the cheap-tier share and its verdict; it writes three PNG plots; ``--since``
filters by time; a missing file is a clear error.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.engine import Engine
from modelyard.errors import BudgetExceededError
from modelyard.telemetry import Feedback
from modelyard.types import ChatRequest, RequestTrace, RoutingHints
from tests.telemetry.conftest import config

_register_all()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

YAML = """
version: 1
models:
  tiny:   {family: slm, provider: sim, price: {input: 0.1, output: 0.2}, options: {latency_ms: 20, output_tokens: 8}}
  medium: {family: moe, provider: sim, price: {input: 1, output: 2}, options: {latency_ms: 40, output_tokens: 8}}
  large:  {family: llm, provider: sim, price: {input: 3, output: 15}, options: {latency_ms: 60, output_tokens: 8}}
  flaky:  {family: slm, provider: sim, options: {failure_rate: 1.0}}
routers:
  plain: {kind: fixed, target: tiny}
  deep: {kind: fixed, target: large}
  shaky: {kind: fixed, target: flaky}
resilience:
  fallbacks: {flaky: [medium]}
  budgets: {tenants: {broke: {daily_usd: 0}}}
telemetry:
  flush_interval_ms: 20
  sinks: [{kind: sqlite, path: 'DIR/records.db'}, {kind: jsonl, path: 'DIR/records.jsonl'}]
"""


class Traces:
    def __init__(self) -> None:
        self.items: list[RequestTrace] = []

    def on_request_end(self, trace: RequestTrace) -> None:
        self.items.append(trace)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RequestTrace]]:
    """8 plain (two rated 1.0 and 0.5), 2 deep, 1 fallback flaky → medium, 1 budget refusal."""
    folder = tmp_path_factory.mktemp("report")
    traces = Traces()

    async def run() -> None:
        async with Engine(config(YAML.replace("DIR", str(folder))), listeners=[traces]) as engine:
            assert engine.telemetry is not None
            for i in range(8):
                done = await engine.chat(ChatRequest.from_text(f"question {i}", model="plain"))
                if i < 2:
                    score = 1.0 if i == 0 else 0.5
                    engine.telemetry.feedback(Feedback(request_id=done.trace.request_id, time=time.time(), score=score))
            for i in range(2):
                await engine.chat(ChatRequest.from_text(f"hard question {i}", model="deep"))
            await engine.chat(ChatRequest.from_text("wobbly", model="shaky"))
            with pytest.raises(BudgetExceededError):
                await engine.chat(ChatRequest.from_text("spend", model="plain", hints=RoutingHints(tenant="broke")))
            assert engine.telemetry.flush()

    asyncio.run(run())
    return folder, traces.items


def rows(output: str, title: str) -> dict[str, list[str]]:
    """The body rows of one printed table, by their first cell."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    out: dict[str, list[str]] = {}
    for line in lines[start + 4 :]:
        if not line.startswith("│"):
            break
        cells = [c.strip() for c in line.strip("│").split("│")]
        out[cells[0]] = cells[1:]
    return out


COLUMNS = ["req", "share", "USD", "USD/req", "p50", "p95", "quality", "esc", "fb", "err"]


@pytest.mark.parametrize("source", ["records.db", "records.jsonl"])
def test_report_agrees_with_the_traffic(traffic: tuple[Path, list[RequestTrace]], tmp_path: Path, source: str) -> None:
    folder, traces = traffic
    result = CliRunner().invoke(app, ["report", "--db", str(folder / source), "--out", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    out = result.output
    total = sum(t.cost_usd for t in traces)
    assert out.startswith(f"{len(traces)} requests from ") and f"total cost ${total:.4f}" in out.splitlines()[0]

    by_route = {k: dict(zip(COLUMNS, v, strict=True)) for k, v in rows(out, "by route").items()}
    for route in ("plain", "deep", "shaky"):
        mine = [t for t in traces if t.requested_model == route and t.status == "ok"]
        assert by_route[route]["req"] == str(len(mine))
        assert by_route[route]["USD"] == f"{sum(t.cost_usd for t in mine):.3f}"
    assert by_route["plain"]["quality"] == "0.75/2"  # the mean of the two ratings, over two rated
    assert by_route["shaky"]["fb"] == "100%" and by_route["plain"]["fb"] == "0%"
    assert by_route["(refused)"]["err"] == "1"

    by_model = {k: dict(zip(COLUMNS, v, strict=True)) for k, v in rows(out, "by model").items()}
    assert {k: v["req"] for k, v in by_model.items()} == {"tiny": "8", "large": "2", "medium": "1", "-": "1"}
    for model, floor_ms in (("tiny", 20), ("medium", 40), ("large", 60)):  # the simulated latency is a floor
        assert float(by_model[model]["p50"]) >= floor_ms and float(by_model[model]["p95"]) >= floor_ms
    by_family = {k: v[0] for k, v in rows(out, "by family").items()}
    assert by_family == {"slm": "8", "llm": "2", "moe": "1", "-": "1"}

    # cheap tiers: slm and mlm, plus models priced below the median — here tiny alone: 8 of 11 answered
    assert "cheap tiers (tiny): 72.7% of answered volume — below the 80/20 target" in out
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["cost_over_time_by_family.png", "cost_vs_quality_by_router.png", "latency_by_model.png"]
    for png in (tmp_path / "plots").iterdir():
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000, png


def test_cheap_target_verdict_and_since(traffic: tuple[Path, list[RequestTrace]], tmp_path: Path) -> None:
    folder, traces = traffic
    db = str(folder / "records.db")
    runner = CliRunner()
    meets = runner.invoke(app, ["report", "--db", db, "--no-plots", "--cheap-target", "0.7"])
    assert meets.exit_code == 0 and "72.7% of answered volume — meets the 70/30 target" in meets.output
    recent = runner.invoke(app, ["report", "--db", db, "--no-plots", "--since", "1h"])
    assert recent.exit_code == 0 and recent.output.startswith(f"{len(traces)} requests")
    future = runner.invoke(app, ["report", "--db", db, "--no-plots", "--since", "2999-01-01"])
    assert future.exit_code == 1 and "no records" in future.output
    missing = runner.invoke(app, ["report", "--db", str(tmp_path / "nope.db"), "--no-plots"])
    assert missing.exit_code == 1 and "no such records file" in missing.output
