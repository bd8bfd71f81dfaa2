"""Cascade router end to end through `Engine`, on SIMULATED models with nonzero prices."""

from __future__ import annotations

import json
import textwrap

import pytest

from modelyard import ChatRequest, ConfigError, Engine, RoutingHints
from modelyard.config import parse_config
from modelyard.errors import UpstreamServerError

MODELS = """
version: 1
gateway: {default_model: c}
models:
  tiny:          # SIMULATED: too short for a min_chars 20 heuristic
    family: slm
    provider: sim
    price: {input: 1.0, output: 2.0}
    latency_p50_ms: 50
    options: {text: "ok", mode: canned, label: false, output_tokens: 5}
  mid:           # SIMULATED: a proper answer
    family: moe
    provider: sim
    price: {input: 2.0, output: 4.0}
    latency_p50_ms: 200
    options:
      {text: "Paris is the capital of France, on the Seine.", mode: canned, label: false, output_tokens: 12}
  big:           # SIMULATED: slow on paper (p50), instant in simulation
    family: llm
    provider: sim
    price: {input: 10.0, output: 30.0}
    latency_p50_ms: 5000
    options:
      {text: "The capital of France is Paris, its largest city.", mode: canned, label: false}
  refuser:       # SIMULATED
    family: llm
    provider: sim
    price: {input: 5.0, output: 5.0}
    latency_p50_ms: 300
    options: {text: "I'm sorry, but I can't help with that request.", mode: canned, label: false}
  broken:        # SIMULATED: always fails
    family: slm
    provider: sim
    price: {input: 1.0, output: 1.0}
    latency_p50_ms: 50
    options: {failure_rate: 1}
  grader:        # SIMULATED judge: scripted grades, one per call
    family: slm
    provider: sim
    price: {input: 0.5, output: 0.5}
    latency_p50_ms: 50
    options:
      label: false
      output_tokens: 8
      script: ["Score: 3/10 - too vague", "```json\\n{\\"score\\": 0.9, \\"reason\\": \\"correct\\"}\\n```"]
"""


def engine(routers: str) -> Engine:
    text = MODELS + "routers:\n" + textwrap.indent(textwrap.dedent(routers), "  ")
    return Engine(parse_config(text, source="cascade.yaml"))


def ask(**hints: object) -> ChatRequest:
    return ChatRequest.from_text("What is the capital of France?", model="c", hints=RoutingHints(**hints))


HEURISTIC = """
c:
  kind: cascade
  judge: {kind: heuristic, min_chars: 20}
  gate: 0.7
  steps: %s
"""


async def test_accepts_at_first_step() -> None:
    async with engine(HEURISTIC % "[mid, big]") as e:
        done = await e.chat(ask())
    assert done.model == "mid"
    assert done.text.startswith("Paris is the capital")
    cascade = done.trace.details["cascade"]
    assert cascade["passed"] is True and cascade["outcome"] == "accepted" and cascade["accepted_step"] == 0
    assert [a.model for a in done.trace.attempts] == ["mid"]
    assert done.trace.attempts[0].purpose == "cascade-step"
    assert done.cost_usd > 0 and done.cost_usd == pytest.approx(done.trace.attempts[0].cost_usd)
    assert cascade["cost_usd"] == pytest.approx(done.cost_usd)
    assert done.decision.model == "mid" and done.decision.path == ["c"]
    assert done.decision.details["cascade"]["passed"] is True
    assert not [ev for ev in done.trace.events if ev.kind == "escalation"]


async def test_escalates_until_a_step_passes_and_counts_every_attempt() -> None:
    async with engine(HEURISTIC % "[tiny, mid, big]") as e:
        done = await e.chat(ask())
    cascade = done.trace.details["cascade"]
    assert done.model == "mid" and cascade["accepted_step"] == 1 and cascade["passed"] is True
    first, second = cascade["steps"]
    assert first["model"] == "tiny" and first["passed"] is False and first["score"] < 0.7
    assert "min_chars" in first["verdict"]["reason"]
    assert second["score"] == 1.0 and second["passed"] is True
    assert [a.model for a in done.trace.attempts] == ["tiny", "mid"]
    costs = [a.cost_usd for a in done.trace.attempts]
    assert all(c > 0 for c in costs)
    assert done.cost_usd == pytest.approx(sum(costs))
    assert cascade["cost_usd"] == pytest.approx(sum(costs))
    assert [s["cost_usd"] for s in cascade["steps"]] == pytest.approx(costs)
    escalations = [ev for ev in done.trace.events if ev.kind == "escalation"]
    assert len(escalations) == 1 and escalations[0].data["from_step"] == 0
    assert "after 1 escalation" in done.decision.reason
    assert len(cascade["attempts"]) == 2
    json.dumps(done.trace.details)  # telemetry stores it as JSON
    json.loads(done.decision.model_dump_json())


async def test_disabled_step_is_skipped() -> None:
    routers = HEURISTIC % "[mid, big]"
    config = parse_config(
        MODELS.replace("    latency_p50_ms: 200\n", "    latency_p50_ms: 200\n    enabled: false\n")
        + "routers:\n"
        + textwrap.indent(textwrap.dedent(routers), "  "),
        source="cascade.yaml",
    )
    async with Engine(config) as e:
        done = await e.chat(ask())
    first = done.trace.details["cascade"]["steps"][0]
    assert first["status"] == "skipped" and "disabled" in first["reason"]
    assert done.model == "big" and [a.model for a in done.trace.attempts] == ["big"]


async def test_exhausted_cascade_returns_last_answer_marked_not_passing() -> None:
    async with engine(HEURISTIC % "[tiny, refuser]") as e:
        done = await e.chat(ask())
    cascade = done.trace.details["cascade"]
    assert cascade["passed"] is False and cascade["outcome"] == "exhausted"
    assert cascade["accepted_step"] is None and cascade["answer_step"] == 1
    assert done.model == "refuser" and done.text.startswith("I'm sorry")
    assert "NOT PASSING" in done.decision.reason
    assert done.decision.details["cascade"]["passed"] is False
    assert "refusal" in cascade["steps"][1]["verdict"]["reason"]
    assert done.cost_usd == pytest.approx(sum(a.cost_usd for a in done.trace.attempts))
    assert len(done.trace.attempts) == 2


async def test_deadline_stop_when_budget_cannot_cover_next_p50() -> None:
    routers = HEURISTIC % "[tiny, big]"
    async with engine(routers) as e:
        stopped = await e.chat(ask(latency_budget_ms=1000))  # big's p50 is 5000 ms
        unhurried = await e.chat(ask())
    cascade = stopped.trace.details["cascade"]
    assert cascade["outcome"] == "deadline" and cascade["passed"] is False
    assert [a.model for a in stopped.trace.attempts] == ["tiny"]
    assert stopped.model == "tiny" and "deadline" in stopped.decision.reason
    assert cascade["steps"][1]["status"] == "not_run" and "p50 5000" in cascade["steps"][1]["reason"]
    assert [ev.kind for ev in stopped.trace.events].count("deadline_stop") == 1
    # the same request without the tight budget escalates to big
    assert unhurried.model == "big" and unhurried.trace.details["cascade"]["passed"] is True


async def test_deadline_awareness_can_be_switched_off() -> None:
    routers = HEURISTIC % "[tiny, big]" + "  deadline_aware: false\n"
    async with engine(routers) as e:
        done = await e.chat(ask(latency_budget_ms=1000))
    assert done.model == "big" and done.trace.details["cascade"]["outcome"] == "accepted"


async def test_failed_step_is_recorded_and_escalates() -> None:
    async with engine(HEURISTIC % "[broken, mid]") as e:
        done = await e.chat(ask())
    cascade = done.trace.details["cascade"]
    assert cascade["steps"][0]["status"] == "error" and cascade["accepted_step"] == 1
    assert [(a.model, a.status) for a in done.trace.attempts] == [("broken", "error"), ("mid", "ok")]


async def test_all_steps_failing_raises_the_provider_error() -> None:
    async with engine(HEURISTIC % "[broken, broken]") as e:
        with pytest.raises(UpstreamServerError):
            await e.chat(ask())


async def test_on_error_raise_stops_at_the_first_failure() -> None:
    async with engine(HEURISTIC % "[broken, mid]" + "  on_error: raise\n") as e:
        with pytest.raises(UpstreamServerError):
            await e.chat(ask())


async def test_family_step_resolves_to_a_model() -> None:
    async with engine(HEURISTIC % "[tiny, moe]") as e:
        done = await e.chat(ask())
    assert done.model == "mid"
    assert done.trace.details["cascade"]["steps"][1]["target"] == "family:moe"


async def test_llm_judge_costs_are_counted_and_grades_parsed() -> None:
    routers = """
    c:
      kind: cascade
      judge: {kind: llm, model: grader}
      gate: 0.6
      steps: [mid, big]
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    cascade = done.trace.details["cascade"]
    assert [s["score"] for s in cascade["steps"]] == pytest.approx([0.3, 0.9])
    assert cascade["accepted_step"] == 1 and done.model == "big"
    assert [(a.model, a.purpose) for a in done.trace.attempts] == [
        ("mid", "cascade-step"), ("grader", "judge"), ("big", "cascade-step"), ("grader", "judge"),
    ]  # fmt: skip
    assert done.trace.attempts[1].cost_usd > 0
    assert cascade["steps"][0]["judge_cost_usd"] == pytest.approx(done.trace.attempts[1].cost_usd)
    assert done.cost_usd == pytest.approx(sum(a.cost_usd for a in done.trace.attempts))


async def test_all_composition_skips_the_paid_judge_after_a_heuristic_failure() -> None:
    routers = """
    c:
      kind: cascade
      judge: {kind: all, of: [{kind: heuristic, min_chars: 20}, {kind: llm, model: grader}]}
      steps: [tiny, mid, big]
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    steps = done.trace.details["cascade"]["steps"]
    # tiny fails the heuristic: the grader is not paid; mid gets 3/10; big gets 0.9
    assert [(a.model, a.purpose) for a in done.trace.attempts] == [
        ("tiny", "cascade-step"), ("mid", "cascade-step"), ("grader", "judge"),
        ("big", "cascade-step"), ("grader", "judge"),
    ]  # fmt: skip
    assert steps[0]["verdict"]["details"]["skipped"] == 1
    assert done.model == "big"


async def test_step_judge_and_gate_override_the_defaults() -> None:
    routers = r"""
    c:
      kind: cascade
      judge: {kind: heuristic, min_chars: 1}
      steps:
        - {target: mid, judge: {kind: regex, pattern: '\d+'}}
        - {target: tiny, gate: 0.0}
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    steps = done.trace.details["cascade"]["steps"]
    assert steps[0]["passed"] is False and steps[0]["verdict"]["source"] == "regex"
    assert done.model == "tiny" and steps[1]["gate"] == 0.0


async def test_no_signal_policy_decides_a_logprob_only_gate() -> None:
    routers = """
    c:
      kind: cascade
      judge: {kind: logprob}
      steps: [mid, {target: big, no_signal: pass}]
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    steps = done.trace.details["cascade"]["steps"]
    assert steps[0]["score"] is None and steps[0]["passed"] is False
    assert "no log-probs" in steps[0]["reason"]
    assert done.model == "big" and steps[1]["passed"] is True


async def test_streaming_a_cascade_streams_the_accepted_answer() -> None:
    async with engine(HEURISTIC % "[tiny, mid]") as e:
        session = await e.stream(ask().model_copy(update={"stream": True}))
        text = "".join([chunk.text async for chunk in session])
    assert text == "Paris is the capital of France, on the Seine."
    assert session.trace.decision is not None and session.trace.decision.model == "mid"
    assert session.trace.details["cascade"]["accepted_step"] == 1


@pytest.mark.parametrize(
    ("routers", "key"),
    [
        ("c: {kind: cascade, steps: [tiny, 'router:c']}", "routers.c.steps[1].target"),
        ("c: {kind: cascade, steps: [tiny, nosuch]}", "routers.c.steps[1].target"),
        (
            "c: {kind: cascade, steps: [{target: tiny, judge: {kind: llm, model: nosuch}}]}",
            "routers.c.steps[0].judge.model",
        ),
        (
            "c: {kind: cascade, steps: [tiny], judge: {kind: all, of: [{kind: heuristic, min_char: 3}]}}",
            "routers.c.judge.of[0].min_char",
        ),
        (
            "c: {kind: cascade, steps: [tiny], judge: {kind: python, callable: 'no_such_mod:fn'}}",
            "routers.c.judge.callable",
        ),
        ("c: {kind: cascade, steps: [tiny], gate: 1.5}", "routers.c.gate"),
        ("c: {kind: cascade, steps: []}", "routers.c.steps"),
    ],
)
def test_config_errors_name_the_key_path(routers: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        engine(routers)
    assert f"cascade.yaml: {key}:" in str(info.value)
