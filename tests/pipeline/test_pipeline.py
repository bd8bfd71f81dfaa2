"""Pipelines: concurrency by timing, schema-invalid output retried then reported, one record per request
with every stage inside, the planner called once, through the library and the gateway (openai SDK)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.pipeline import PipelineRunner, StageOutputError, draw
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.testing.services import ServiceFault, board_services
from modelyard.types import ChatRequest
from tests.server.server_harness import Traces, serve

BASE = """
version: 1
gateway: {default_model: sim-final}
models:
  sim-a:
    {family: slm, provider: sim, price: {input: 0.001, output: 0.002}, options: {latency_ms: 400, output_tokens: 10}}
  sim-b:
    {family: moe, provider: sim, price: {input: 0.001, output: 0.002}, options: {latency_ms: 400, output_tokens: 10}}
  sim-final:
    {family: llm, provider: sim, price: {input: 0.003, output: 0.015}, options: {latency_ms: 100, output_tokens: 20}}
  upstream-json: {family: slm, provider: openai, base_url: "UPSTREAM/v1", upstream_model: loop}
pipelines:
  fanout:
    stages:
      a: {kind: chat, target: sim-a, prompt: "first look at: {{request.text}}"}
      b: {kind: chat, target: moe, prompt: "second look at: {{request.text}}"}
      final: {kind: chat, target: sim-final, prompt: "combine <{{stages.a.text}}> and <{{stages.b.text}}>"}
  bounded:
    budget_usd: 0.0004
    stages:
      a: {kind: chat, target: sim-a, prompt: "first look at: {{request.text}}", max_tokens: 10}
      b: {kind: chat, target: sim-b, prompt: "second look at: {{request.text}}", max_tokens: 10}
      final: {kind: chat, target: sim-final, prompt: "combine {{stages.a.text}} {{stages.b.text}}", max_tokens: 200}
  extract:
    stages:
      fields:
        kind: chat
        target: upstream-json
        prompt: "extract priority from: {{request.text}}"
        schema_retries: 1
        output_schema: {type: object, properties: {priority: {enum: [low, high]}}, required: [priority]}
      answer: {kind: chat, target: sim-final, prompt: "priority is {{stages.fields.output.priority}}"}
"""


def _openai_body(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loop",
        "object": "chat.completion",
        "created": 1,
        "model": "loop",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }


@pytest.fixture
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread() as up:
        yield up


def _config(upstream: LoopbackUpstream, extra: str = "", sink: Path | None = None) -> Any:
    text = BASE.replace("UPSTREAM", upstream.url) + extra
    if sink is not None:
        text += f"telemetry:\n  sinks: [{{kind: jsonl, path: '{sink}'}}]\n"
    else:
        text += "telemetry: {enabled: false}\n"
    return parse_config(text, source="pipelines-test.yaml")


async def test_independent_stages_run_concurrently(upstream: LoopbackUpstream) -> None:
    engine = Engine(_config(upstream))
    runner = PipelineRunner(engine)
    started = time.monotonic()
    done = await runner.chat(ChatRequest.from_text("the ticket", model="pipeline:fanout"))
    elapsed = time.monotonic() - started
    await engine.aclose()
    stages = done.trace.details["pipeline"]["stages"]
    assert done.trace.details["pipeline"]["levels"] == [["a", "b"], ["final"]]
    assert stages["a"]["latency_ms"] >= 380 and stages["b"]["latency_ms"] >= 380
    assert abs(stages["a"]["started_ms"] - stages["b"]["started_ms"]) < 100  # started together
    assert elapsed < 0.8, f"a (0.4 s) and b (0.4 s) then final (0.1 s) took {elapsed:.2f} s: not concurrent"
    assert "[simulated sim-a] echo: first look at: the ticket" in done.text and "[simulated sim-b]" in done.text
    assert sorted(a.purpose for a in done.trace.attempts) == ["stage:a", "stage:b", "stage:final"]
    assert done.decision.path[:2] == ["pipeline:fanout", "stage:final"]


@pytest.mark.parametrize(
    ("answers", "ok", "problems"),
    [
        (
            ["not json at all", '{"priority": "urgent"}'],
            False,
            ["holds no JSON", "at priority: 'urgent' is not one of"],
        ),
        (
            ['```json\n{"level": 3}\n```', "[1, 2]"],
            False,
            ["'priority' is a required property", "not of type 'object'"],
        ),
        (['Sure! {"priority": "hig"}', 'Here: {"priority": "high"}'], True, ["at priority: 'hig' is not one of"]),
    ],
)
async def test_schema_invalid_output_is_retried_then_reported(
    upstream: LoopbackUpstream, answers: list[str], ok: bool, problems: list[str]
) -> None:
    for answer in answers:
        upstream.faults.add(Fault(path="/chat/completions", body=_openai_body(answer)))
    engine = Engine(_config(upstream))
    runner = PipelineRunner(engine)
    request = ChatRequest.from_text("printer on fire", model="pipeline:extract")
    if ok:
        done = await runner.chat(request)
        assert done.trace.details["pipeline"]["stages"]["fields"]["tries"] == 2
        assert "echo: priority is high" in done.text
    else:
        with pytest.raises(StageOutputError) as caught:
            await runner.chat(request)
        assert caught.value.stage == "fields" and "after 2 tries" in str(caught.value)
        assert all(p in got for p, got in zip(problems, caught.value.problems, strict=True)), caught.value.problems
    await engine.aclose()
    sent = [r.json() for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert len(sent) == 2  # one retry, then the answer or the report
    retry_messages = sent[1]["messages"]
    assert retry_messages[-2] == {"role": "assistant", "content": answers[0]}
    assert "That answer is invalid" in retry_messages[-1]["content"]


def test_gateway_one_record_per_request_with_every_stage(upstream: LoopbackUpstream, tmp_path: Path) -> None:
    sink = tmp_path / "records.jsonl"
    traces = Traces()
    engine = Engine(_config(upstream, sink=sink), listeners=[traces])
    from modelyard.server import create_app

    with serve(create_app(engine)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        listed = {m.id for m in client.models.list()}
        assert {"pipeline:fanout", "pipeline:extract", "pipeline:bounded"} <= listed
        assert client.models.retrieve("pipeline:fanout").model_dump()["stages"] == ["a", "b", "final"]
        plain = client.chat.completions.create(model="pipeline:fanout", messages=[{"role": "user", "content": "hello"}])
        chunks = list(
            client.chat.completions.create(
                model="pipeline:fanout", messages=[{"role": "user", "content": "stream me"}], stream=True
            )
        )
        upstream.faults.add(Fault(path="/chat/completions", body=_openai_body("nope"), times=2))
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="pipeline:extract", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "stage 'fields'" in str(caught.value.message)
    assert plain.model == "sim-final" and "[simulated sim-final]" in (plain.choices[0].message.content or "")
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.startswith("[simulated sim-final] echo: combine <[simulated sim-a] echo: first look at: stream me>")
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(records) == 3 == len({r["request_id"] for r in records}) == len(traces.items)
    by_stream = {r["stream"]: r for r in records if r["requested"] == "pipeline:fanout"}
    for record in by_stream.values():
        assert sorted(a["purpose"] for a in record["attempts"]) == ["stage:a", "stage:b", "stage:final"]
        stage_events = {e["data"]["stage"]: e["data"] for e in record["events"] if e["kind"] == "pipeline.stage"}
        assert set(stage_events) == {"a", "b", "final"}
        assert all(s["latency_ms"] > 0 and s["cost_usd"] > 0 and s["calls"] == 1 for s in stage_events.values())
        assert record["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in record["attempts"]))
        assert record["route"][:2] == ["pipeline:fanout", "stage:final"]
    failed = next(r for r in records if r["requested"] == "pipeline:extract")
    assert failed["status"] == "error" and "stage 'fields'" in failed["error"]
    assert [a["purpose"] for a in failed["attempts"]] == ["stage:fields", "stage:fields"]


PLANNED = """  planned:
    stages:
      act: {kind: act, planner: upstream-json, task: "Collect {{request.text}} metrics", inputs: {quarter: Q3}}
actions:
  store: STORE
  tools:
    crm.pipeline: {kind: http, method: GET, url: "CRM/pipeline"}
    payments.revenue: {kind: http, method: GET, url: "PAY/revenue"}
"""


async def test_failing_step_fails_the_run_and_the_planner_is_called_once(
    upstream: LoopbackUpstream, tmp_path: Path
) -> None:
    services = board_services()
    for s in services.values():
        await s.start()
    plan = {
        "goal": "collect Q3 metrics",
        "steps": [
            {"id": "crm", "tool": "crm.pipeline", "args": {"quarter": "{{inputs.quarter}}"}},
            {
                "id": "pay",
                "tool": "payments.revenue",
                "args": {"quarter": "{{inputs.quarter}}"},
                "retry": {"attempts": 3, "backoff_s": 0.01},
            },
        ],
    }
    upstream.faults.add(Fault(path="/chat/completions", body=_openai_body(json.dumps(plan)), times=None))
    services["payments"].inject(ServiceFault("GET /revenue", status=503, times=100))
    extra = PLANNED.replace("STORE", str(tmp_path / "steps.db")).replace("CRM", services["crm"].url)
    extra = extra.replace("PAY", services["payments"].url)
    engine = Engine(_config(upstream, extra))
    runner = PipelineRunner.for_engine(engine)
    try:
        from modelyard.pipeline import StageFailedError

        with pytest.raises(StageFailedError) as caught:
            await runner.chat(ChatRequest.from_text("Q3", model="pipeline:planned"))
    finally:
        await runner.aclose()
        await engine.aclose()
        for s in services.values():
            await s.stop()
    message = str(caught.value)
    assert "step 'pay'" in message and "after 3 attempts" in message
    assert message.count("server: payments.revenue: HTTP 503") == 3
    planner_calls = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert len(planner_calls) == 1  # planned once; never re-planned after the failure
    assert planner_calls[0].json()["response_format"]["type"] == "json_schema"
    assert len(services["payments"].requests("GET /revenue")) == 3
    assert len(services["crm"].requests("GET /pipeline")) == 1


def test_explain_draws_the_stage_graph(upstream: LoopbackUpstream) -> None:
    config = _config(upstream)
    text = draw("fanout", config.pipelines["fanout"])
    assert text.splitlines() == [
        "pipeline:fanout",
        "  level 0 (concurrent)",
        "    [a] chat sim-a",
        "    [b] chat moe",
        "  level 1",
        "    [final] chat sim-final  ← a, b  ⇒ answer",
    ]


@pytest.mark.parametrize(
    ("yaml_tail", "error"),
    [
        (
            "pipelines:\n  p:\n    stages:\n      a: {kind: chat, target: nope, prompt: x}\n",
            "pipelines.p.stages.a.target",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a: {kind: chat, target: slm, prompt: '{{stages.b.text}}'}\n",
            "unknown stage",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a: {kind: chat, target: slm, prompt: '{{stages.b.text}}'}\n"
            "      b: {kind: chat, target: slm, prompt: '{{stages.a.text}}'}\n",
            "cycle",
        ),
        ("pipelines:\n  p:\n    stages:\n      a: {kind: act, plan: missing}\n", "no plan 'missing'"),
    ],
)
def test_bad_pipeline_configs_name_the_key(yaml_tail: str, error: str) -> None:
    from modelyard.errors import ConfigError

    text = "version: 1\nmodels:\n  m: {family: slm, provider: sim}\n" + yaml_tail
    with pytest.raises(ConfigError, match=error):
        parse_config(text, source="bad.yaml")


async def test_one_budget_covers_every_stage(upstream: LoopbackUpstream) -> None:
    """a and b fit the pipeline's $0.0004 on their own; the final stage's worst case does not fit
    beside what a and b already spent, so it is refused with their spend counted in."""
    from modelyard.pipeline import StageFailedError

    engine = Engine(_config(upstream))
    runner = PipelineRunner(engine)
    with pytest.raises(StageFailedError) as caught:
        await runner.chat(ChatRequest.from_text("x" * 400, model="pipeline:bounded"))
    await engine.aclose()
    error = caught.value
    assert error.stage == "final" and error.status_code == 402
    spent = float(str(error).split("with $")[1].split(" already committed")[0])
    assert spent > 0  # a and b's cost, counted against the same budget
    assert "max_cost $0.000400" in str(error)
