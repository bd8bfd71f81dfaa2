"""One deadline for the whole pipeline (README: "Independent stages run concurrently under one
deadline and one budget"; the budget is tests/pipeline/test_pipeline.py::test_one_budget_covers_every_stage).

Two independent stages that each take 3 s, under a 600 ms latency budget: the run fails at the
deadline, not after 3 s, and neither stage is left running.
"""

from __future__ import annotations

import re
import time

import pytest

from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.pipeline import PipelineRunner, StageFailedError
from modelyard.types import ChatRequest, RoutingHints
from tests.server.server_harness import Traces

CONFIG = """
version: 1
models:
  slow-a: {family: slm, provider: sim, options: {latency_ms: 3000, output_tokens: 5}}
  slow-b: {family: moe, provider: sim, options: {latency_ms: 3000, output_tokens: 5}}
  fin: {family: llm, provider: sim, options: {latency_ms: 10, output_tokens: 5}}
pipelines:
  two:
    stages:
      a: {kind: chat, target: slow-a, prompt: "a {{request.text}}"}
      b: {kind: chat, target: slow-b, prompt: "b {{request.text}}"}
      final: {kind: chat, target: fin, prompt: "{{stages.a.text}} {{stages.b.text}}"}
telemetry: {enabled: false}
"""


@pytest.mark.parametrize("budget_ms", [600, 1200])
async def test_the_latency_budget_bounds_every_stage(budget_ms: int) -> None:
    traces = Traces()
    engine = Engine(parse_config(CONFIG, source="t.yaml"), listeners=[traces])
    runner = PipelineRunner(engine)
    request = ChatRequest.from_text("x", model="pipeline:two", hints=RoutingHints(latency_budget_ms=budget_ms))
    started = time.monotonic()
    try:
        with pytest.raises(StageFailedError) as caught:
            await runner.chat(request)
    finally:
        elapsed = time.monotonic() - started
        await engine.aclose()
    assert caught.value.stage in ("a", "b")
    # the message names the time the stage had left: the budget, less what routing took (a few ms)
    said = re.search(r"within (\d+\.\d+)s", str(caught.value))
    assert said is not None, str(caught.value)
    assert budget_ms / 1000 - 0.05 <= float(said.group(1)) <= budget_ms / 1000, said.group(0)
    assert budget_ms / 1000 - 0.05 <= elapsed < budget_ms / 1000 + 1.0, elapsed  # the deadline, not the 3 s stages
    (trace,) = traces.items
    stages = sorted((a.purpose, a.status) for a in trace.attempts)
    assert [p for p, _ in stages] == ["stage:a", "stage:b"] and "ok" not in {s for _, s in stages}
    assert "stage:final" not in [a.purpose for a in trace.attempts]
