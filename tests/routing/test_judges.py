"""Judges one by one: heuristics, log-probs, embeddings, LLM grades, verifiers, composition."""

from __future__ import annotations

import asyncio
import math
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest

from modelyard import ChatRequest, ChatResponse, ConfigError, Engine
from modelyard.config import parse_config
from modelyard.config.routers.judge_specs import (
    ComposeSpec,
    EmbeddingJudgeSpec,
    HeuristicJudgeSpec,
    JsonVerifierSpec,
    JudgeSpec,
    LogprobJudgeSpec,
    PythonVerifierSpec,
    RegexVerifierSpec,
)
from modelyard.registry import AlwaysAvailable, Registry
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges import Verdict, accepts, build_judge, register_judge
from modelyard.routing.judges.llm_judge import parse_grade
from modelyard.types import Deadline, RequestTrace

QUESTION = ChatRequest.from_text("What is the capital of France?")
BUILD = BuildContext(registry=Registry({}), config_dir=Path("."), routers={})


def answer(text: str, **kw: Any) -> ChatResponse:
    return ChatResponse(model="m", provider="sim", text=text, **kw)


def ctx(seconds: float = 5.0) -> RouteContext:
    return RouteContext(
        registry=Registry({}),
        availability=AlwaysAvailable(),
        deadline=Deadline.after(seconds),
        trace=RequestTrace(request_id="t"),
    )


async def run(spec: JudgeSpec, text: str, **kw: Any) -> Verdict:
    return await build_judge(spec, BUILD).judge(QUESTION, answer(text, **kw), ctx())


# -- heuristic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kw", "score", "passed", "why"),
    [
        ("Paris is the capital of France.", {}, 1.0, True, "passes"),
        ("   ", {}, 0.0, False, "empty"),
        ("Paris", {}, 0.3 * 5 / 20, False, "min_chars"),
        ("I'm sorry, but I can't help with geography questions today.", {}, 0.2, False, "refusal"),
        ("Paris is the capital of France, and", {"finish_reason": "length"}, 0.4, False, "token limit"),
        ("x" * 300, {}, 0.5, False, "max_chars"),
    ],
)
async def test_heuristic(text: str, kw: dict[str, Any], score: float, passed: bool, why: str) -> None:
    verdict = await run(HeuristicJudgeSpec(min_chars=20, max_chars=200), text, **kw)
    assert verdict.score == pytest.approx(score) and verdict.passed is passed and why in verdict.reason


async def test_heuristic_extra_refusals() -> None:
    verdict = await run(
        HeuristicJudgeSpec(extra_refusals=["Beyond my knowledge"]), "That is beyond my knowledge."
    )
    assert verdict.passed is False and "refusal" in verdict.reason


# -- log-prob --------------------------------------------------------------------


async def test_logprob_geometric_mean_probability() -> None:
    sure = await run(LogprobJudgeSpec(), "Paris", logprobs=[-0.01, -0.02, -0.03])
    unsure = await run(LogprobJudgeSpec(), "Paris", logprobs=[-0.01, -3.0, -0.03])
    assert sure.score == pytest.approx(math.exp(-0.02))
    assert unsure.score is not None and unsure.score < 0.4 < sure.score
    assert sure.passed is None and unsure.details["tokens"] == 3


async def test_logprob_without_logprobs_gives_no_signal() -> None:
    verdict = await run(LogprobJudgeSpec(), "Paris")
    assert verdict.score is None and verdict.passed is None and not verdict.has_signal
    assert "no log-probs" in verdict.reason
    assert (await run(LogprobJudgeSpec(min_tokens=5), "Paris", logprobs=[-0.1])).score is None
    assert accepts(verdict, 0.5)[0] is False and accepts(verdict, 0.5, "pass")[0] is True


# -- embedding (the real local MiniLM) -------------------------------------------


async def test_embedding_similarity_separates_on_and_off_topic() -> None:
    judge = build_judge(EmbeddingJudgeSpec(), BUILD)
    on = await judge.judge(QUESTION, answer("Paris is the capital of France."), ctx())
    off = await judge.judge(QUESTION, answer("Bananas are a good source of potassium."), ctx())
    assert on.score is not None and off.score is not None
    assert on.score > 0.6 and off.score < 0.2
    empty = await judge.judge(QUESTION, answer(""), ctx())
    assert empty.score is None


# -- LLM judge -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 0.8, "reason": "correct"}', 0.8),
        ('Here is my grade:\n```json\n{"score": 0.25, "reason": "wrong city"}\n```', 0.25),
        ('I think {"Score": "7/10", "Reason": "mostly right"} sums it up.', 0.7),
        ('{"score": 9, "reason": "great"}', 0.9),
        ('{"rating": 85, "explanation": "good"}', 0.85),
        ("Score: 7/10 — misses the river", 0.7),
        ("**Score:** 0.6\nReason: fine", 0.6),
        ("rating = 4/5", 0.8),
        ("score of 90%", 0.9),
        ('{"verdict": "good"}\nScore: 3/10', 0.3),
    ],
)
def test_parse_grade_variants(reply: str, score: float) -> None:
    parsed = parse_grade(reply)
    assert parsed is not None and parsed[0] == pytest.approx(score)


@pytest.mark.parametrize("reply", ["Looks good to me!", '{"score": 250}', "score: -3", ""])
def test_parse_grade_rejects_unusable(reply: str) -> None:
    assert parse_grade(reply) is None


GRADERS = """
version: 1
gateway: {default_model: good}
models:
  good:      {family: slm, provider: sim, price: {input: 1, output: 1}, options: {text: '{"score": 0.9}'}}
  rambling:  {family: slm, provider: sim, price: {input: 1, output: 1}, options: {text: "Nice answer."}}
  broken:    {family: slm, provider: sim, price: {input: 1, output: 1}, options: {failure_rate: 1}}
  bigjudge:  {family: llm, provider: sim, price: {input: 2, output: 2}, options: {text: "Score: 2/10"}}
"""


async def grade(model: str) -> tuple[Verdict, RequestTrace]:
    from modelyard.config.routers.judge_specs import LLMJudgeSpec

    engine = Engine(parse_config(textwrap.dedent(GRADERS), source="graders.yaml"))
    trace = engine.new_trace(QUESTION)
    deadline = engine.deadline_for(QUESTION)

    async def call(name: str, request: ChatRequest, *, purpose: str = "answer") -> ChatResponse:
        return await engine.calls.chat(name, request, trace=trace, deadline=deadline, purpose=purpose)

    route_ctx = RouteContext(
        registry=engine.registry, availability=engine.availability, deadline=deadline, trace=trace, call=call
    )
    judge = build_judge(LLMJudgeSpec(model=model), BUILD)
    async with engine:
        verdict = await judge.judge(QUESTION, answer("Paris."), route_ctx)
    return verdict, trace


async def test_llm_judge_reads_a_labelled_simulated_reply() -> None:
    verdict, trace = await grade("good")  # the sim prefixes "[simulated good] " before the JSON
    assert verdict.score == pytest.approx(0.9) and verdict.passed is None
    assert [(a.model, a.purpose) for a in trace.attempts] == [("good", "judge")]


async def test_llm_judge_family_target() -> None:
    verdict, trace = await grade("llm")
    assert verdict.score == pytest.approx(0.2) and trace.attempts[0].model == "bigjudge"


async def test_llm_judge_unparseable_reply_is_a_low_verdict_not_an_error() -> None:
    verdict, trace = await grade("rambling")
    assert verdict.score == 0.0 and verdict.details["parse_error"] is True
    assert "could not parse" in verdict.reason and trace.attempts[0].cost_usd > 0


async def test_llm_judge_failed_call_is_a_low_verdict_not_an_error() -> None:
    verdict, trace = await grade("broken")
    assert verdict.score == 0.0 and verdict.details["call_error"] is True
    assert "judge call failed" in verdict.reason and trace.attempts[0].status == "error"


# -- verifiers -------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "required": ["item", "qty"],
    "properties": {"item": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
}


async def test_json_verifier_parses_fenced_json() -> None:
    ok = await run(JsonVerifierSpec(), '```json\n{"a": 1}\n```')
    bad = await run(JsonVerifierSpec(), '{"a": 1,}')
    assert ok.passed is True and ok.score == 1.0
    assert bad.passed is False and "not JSON" in bad.reason


async def test_json_schema_verifier() -> None:
    pytest.importorskip("jsonschema")
    spec = JsonVerifierSpec.model_validate({"schema": ORDER_SCHEMA})
    assert (await run(spec, '{"item": "tea", "qty": 2}')).passed is True
    wrong = await run(spec, '{"item": "tea", "qty": 0}')
    assert wrong.passed is False and "qty" in wrong.reason
    missing = await run(spec, '{"item": "tea"}')
    assert missing.passed is False and "'qty' is a required property" in missing.reason


def test_json_schema_that_is_not_a_schema_is_a_config_error() -> None:
    pytest.importorskip("jsonschema")
    with pytest.raises(ConfigError, match="schema: not a valid JSON schema"):
        build_judge(JsonVerifierSpec.model_validate({"schema": {"type": "no-such-type"}}), BUILD)


@pytest.mark.parametrize(
    ("spec", "text", "passed"),
    [
        ({"pattern": r"\d{5}"}, "The code is 75001.", True),
        ({"pattern": r"\d{5}", "match": "fullmatch"}, "The code is 75001.", False),
        ({"pattern": r"\d{5}", "match": "fullmatch"}, " 75001\n", True),
        ({"pattern": "paris", "ignore_case": True}, "PARIS", True),
        ({"pattern": "paris"}, "PARIS", False),
        ({"pattern": "TODO", "negate": True}, "All done.", True),
        ({"pattern": "TODO", "negate": True}, "TODO: finish", False),
    ],
)
async def test_regex_verifier(spec: dict[str, Any], text: str, passed: bool) -> None:
    assert (await run(RegexVerifierSpec.model_validate(spec), text)).passed is passed


def is_paris(text: str, request: ChatRequest, *, strict: bool = False) -> bool:
    return text == "Paris" if strict else "paris" in text.lower()


def length_score(text: str, request: ChatRequest) -> tuple[float, str]:
    return min(1.0, len(text) / 10), f"{len(text)} chars"


def explodes(text: str, request: ChatRequest) -> bool:
    raise RuntimeError("test suite crashed")


async def slow_check(text: str, request: ChatRequest) -> bool:
    await asyncio.sleep(5)
    return True


def wrong_type(text: str, request: ChatRequest) -> str:
    return "yes"


async def test_python_verifier_callable_results() -> None:
    here = __name__
    assert (await run(PythonVerifierSpec(callable=f"{here}:is_paris"), "paris!")).passed is True
    strict = PythonVerifierSpec(callable=f"{here}:is_paris", args={"strict": True})
    assert (await run(strict, "paris!")).passed is False
    scored = await run(PythonVerifierSpec(callable=f"{here}:length_score"), "Paris")
    assert scored.score == pytest.approx(0.5) and scored.passed is None and scored.reason == "5 chars"
    crashed = await run(PythonVerifierSpec(callable=f"{here}:explodes"), "x")
    assert crashed.passed is False and "RuntimeError: test suite crashed" in crashed.reason
    odd = await run(PythonVerifierSpec(callable=f"{here}:wrong_type"), "x")
    assert odd.passed is False and "returned str" in odd.reason


async def test_python_verifier_times_out() -> None:
    started = asyncio.get_running_loop().time()
    verdict = await run(PythonVerifierSpec(callable=f"{__name__}:slow_check", timeout_s=0.05), "x")
    assert verdict.passed is False and "did not finish" in verdict.reason
    assert asyncio.get_running_loop().time() - started < 1.0


@pytest.mark.parametrize("ref", ["no_such_module_xyz:fn", f"{__name__}:not_there"])
def test_python_verifier_bad_reference_is_a_config_error(ref: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_judge(PythonVerifierSpec(callable=ref), BUILD)
    assert info.value.key == "judge.callable"


# -- composition and custom judges -------------------------------------------------


class FixedSpec(JudgeSpec):
    kind: Literal["fixed"] = "fixed"
    score: float | None = None
    passed: bool | None = None


class FixedJudge:
    """A custom judge registered from Python; counts its calls."""

    calls = 0

    def __init__(self, spec: FixedSpec) -> None:
        self.spec = spec

    @classmethod
    def from_spec(cls, spec: FixedSpec, build: BuildContext) -> FixedJudge:
        return cls(spec)

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        FixedJudge.calls += 1
        return Verdict(self.spec.score, self.spec.passed, f"fixed {self.spec.score}", "fixed")


register_judge("fixed", FixedSpec, FixedJudge)


def compose(kind: str, *children: dict[str, Any], **kw: Any) -> ComposeSpec:
    return ComposeSpec.model_validate({"kind": kind, "of": [{"kind": "fixed", **c} for c in children], **kw})


@pytest.mark.parametrize(
    ("kind", "children", "kw", "score", "passed", "calls"),
    [
        (
            "all",
            [{"score": 1.0, "passed": True}, {"score": 0.0, "passed": False}, {"score": 1.0}],
            {},
            0.0,
            False,
            2,
        ),
        ("all", [{"score": 0.9, "passed": True}, {"score": 0.6}], {}, 0.6, None, 2),
        ("all", [{"score": 0.9, "passed": True}, {"score": 0.7, "passed": True}], {}, 0.7, True, 2),
        (
            "any",
            [{"score": 0.0, "passed": False}, {"score": 1.0, "passed": True}, {"score": 0.1}],
            {},
            1.0,
            True,
            2,
        ),
        ("any", [{"score": 0.0, "passed": False}, {"score": 0.2, "passed": False}], {}, 0.2, False, 2),
        ("mean", [{"score": 1.0}, {"score": 0.0}], {"weights": [3, 1]}, 0.75, None, 2),
        ("mean", [{"score": 0.8}, {}], {}, 0.8, None, 2),  # a no-signal child is left out
        ("min", [{"score": 0.8}, {"score": 0.3, "passed": False}, {"score": 0.5}], {}, 0.3, None, 3),
        ("min", [{}, {}], {}, None, None, 2),
    ],
)
async def test_composition(
    kind: str,
    children: list[dict[str, Any]],
    kw: dict[str, Any],
    score: float | None,
    passed: bool | None,
    calls: int,
) -> None:
    FixedJudge.calls = 0
    verdict = await run(compose(kind, *children, **kw), "Paris")
    assert verdict.score == (pytest.approx(score) if score is not None else None)
    assert verdict.passed is passed and FixedJudge.calls == calls
    assert len(verdict.details["children"]) == calls


async def test_composition_propagates_the_logprob_request() -> None:
    spec = ComposeSpec.model_validate({"kind": "all", "of": [{"kind": "heuristic"}, {"kind": "logprob"}]})
    assert getattr(build_judge(spec, BUILD), "wants_logprobs", False) is True
    assert getattr(build_judge(HeuristicJudgeSpec(), BUILD), "wants_logprobs", False) is False


async def test_custom_judge_is_usable_from_yaml() -> None:
    config = parse_config(
        textwrap.dedent(
            """
            version: 1
            gateway: {default_model: c}
            models:
              m: {family: slm, provider: sim}
            routers:
              c: {kind: cascade, steps: [m], gate: 0.7, judge: {kind: all, of: [{kind: fixed, score: 0.5}]}}
            """
        )
    )
    FixedJudge.calls = 0
    async with Engine(config) as engine:
        done = await engine.chat(ChatRequest.from_text("hi", model="c"))
    step = done.trace.details["cascade"]["steps"][0]
    assert FixedJudge.calls == 1 and step["score"] == 0.5 and step["passed"] is False
    assert step["verdict"]["details"]["children"][0]["source"] == "fixed"


@pytest.mark.parametrize(
    ("verdict", "gate", "ok"),
    [
        (Verdict(0.8, None, "", "x"), 0.7, True),
        (Verdict(0.6, None, "", "x"), 0.7, False),
        (Verdict(0.9, False, "vetoed", "x"), 0.5, False),
        (Verdict(None, True, "verified", "x"), 0.99, True),
        (Verdict(1.7, None, "", "x"), 1.0, True),  # scores are clipped into [0, 1]
    ],
)
def test_gate(verdict: Verdict, gate: float, ok: bool) -> None:
    assert accepts(verdict, gate)[0] is ok
