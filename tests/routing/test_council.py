"""Council router end to end through `Engine`, on SIMULATED (some scripted) models."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
import yaml

from modelyard import ChatRequest, ConfigError, Engine, RoutingHints
from modelyard.config import parse_config
from modelyard.errors import RoutingError
from modelyard.routing.council import parse_verdict
from modelyard.routing.council.fanout import Member, MemberResult
from modelyard.routing.council.review import ReviewLoop
from modelyard.types import ChatResponse


def sim(
    text: str | None = None, *, family: str = "slm", price: float = 1.0, **options: object
) -> dict[str, object]:
    """A SIMULATED model with a fixed (or scripted) answer and a nonzero price."""
    opts: dict[str, object] = {"label": False, **options}
    if text is not None:
        opts["text"] = text
    return {
        "family": family,
        "provider": "sim",
        "price": {"input": price, "output": 2 * price},
        "options": opts,
    }


MODELS = {
    "a": sim("Paris"),
    "b": sim("  paris. "),
    "c": sim("London"),
    "dunno": sim("I don't know"),
    "quick": sim("Paris is the capital of France.", family="moe", latency_ms=20),
    "slow": sim("Paris is the capital city of France.", family="llm", price=5, latency_ms=3000),
    "broken": sim(failure_rate=1),
    "writer": sim(
        family="llm", price=3, script=["Draft 1: Paris is in Germany.", "Draft 2: Paris is in France."]
    ),
    "critic-a": sim(script=["The country is wrong.\n**VERDICT: REJECT**", "Correct now.\nverdict: approve."]),
    "critic-b": sim(script=["Wrong country. Verdict: **Reject**!", "Fine.\nVERDICT: APPROVE"]),
    "approver": sim("Good. VERDICT: APPROVE"),
    "hard": sim("Still wrong. VERDICT: REJECT"),
    "silent": sim("Looks fine to me."),
    "flip": sim("VERDICT: APPROVE\nOn reflection, one claim is unsupported. VERDICT: REJECT"),
    "sleepy": sim("VERDICT: APPROVE", latency_ms=3000),
}


def engine(routers: str) -> Engine:
    head = yaml.safe_dump({"version": 1, "gateway": {"default_model": "v"}, "models": MODELS})
    text = head + "routers:\n" + textwrap.indent(textwrap.dedent(routers), "  ")
    return Engine(parse_config(text, source="council.yaml"))


def ask(**hints: object) -> ChatRequest:
    return ChatRequest.from_text("What is the capital of France?", model="v", hints=RoutingHints(**hints))


def statuses(done: object) -> list[tuple[str, str, str]]:
    return [(a.model, a.status, a.purpose) for a in done.trace.attempts]  # type: ignore[attr-defined]


def assert_cost_is_every_attempt(done: object) -> None:
    attempts = done.trace.attempts  # type: ignore[attr-defined]
    assert done.cost_usd > 0  # type: ignore[attr-defined]
    assert done.cost_usd == pytest.approx(sum(a.cost_usd for a in attempts))  # type: ignore[attr-defined]
    assert done.trace.details["council"]["cost_usd"] == pytest.approx(done.cost_usd)  # type: ignore[attr-defined]


# -- first valid -----------------------------------------------------------------


async def test_first_valid_answer_wins_and_stragglers_are_cancelled() -> None:
    routers = "v: {kind: council, strategy: first_valid, members: [dunno, quick, slow]}"
    async with engine(routers) as e:
        started = time.perf_counter()
        done = await e.chat(ask())
        elapsed = time.perf_counter() - started
    assert done.model == "quick" and done.trace.details["council"]["passed"] is True
    assert elapsed < 1.0  # slow (3 s) was cancelled, not awaited
    members = {m["member"]: m for m in done.trace.details["council"]["members"]}
    assert members["dunno"]["valid"] is False and "refusal" in members["dunno"]["verdict"]["reason"]
    assert members["slow"]["status"] == "cancelled"
    assert ("slow", "cancelled", "council") in statuses(done)
    assert_cost_is_every_attempt(done)


async def test_first_valid_without_a_valid_answer_is_marked() -> None:
    async with engine("v: {kind: council, strategy: first_valid, members: [dunno, broken]}") as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["passed"] is False and done.model == "dunno"
    assert "NOT VALID" in done.decision.reason


async def test_council_with_no_answer_at_all_raises() -> None:
    async with engine("v: {kind: council, strategy: first_valid, members: [broken, broken]}") as e:
        with pytest.raises(RoutingError, match="no member answered"):
            await e.chat(ask())


# -- majority --------------------------------------------------------------------


async def test_majority_vote_on_normalised_answers() -> None:
    async with engine("v: {kind: council, strategy: majority, members: [c, a, b]}") as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["passed"] is True and council["winner"] == "paris"
    assert council["votes"] == {"london": ["c"], "paris": ["a", "b"]}
    assert done.model == "a" and done.text == "Paris"
    assert "2 of 3 votes" in done.decision.reason
    assert_cost_is_every_attempt(done)


async def test_majority_without_agreement_returns_plurality_marked() -> None:
    async with engine("v: {kind: council, strategy: majority, members: [c, a]}") as e:
        done = await e.chat(ask())
    assert done.trace.details["council"]["passed"] is False
    assert done.model == "c"  # a tie goes to the earlier member
    assert "NOT AGREED" in done.decision.reason


async def test_majority_extract_and_min_agreement() -> None:
    routers = r"""
    v:
      kind: council
      strategy: majority
      members: [quick, writer, c]
      extract: '(?i)(paris|london)'
      min_agreement: 2
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["votes"] == {"paris": ["quick", "writer"], "london": ["c"]} and council["passed"] is True


async def test_failed_member_does_not_vote_and_deadline_bounds_the_fan_out() -> None:
    async with engine("v: {kind: council, strategy: majority, members: [a, b, broken, slow]}") as e:
        started = time.perf_counter()
        done = await e.chat(ask(latency_budget_ms=300))
        elapsed = time.perf_counter() - started
    council = done.trace.details["council"]
    members = {m["member"]: m["status"] for m in council["members"]}
    assert members == {"a": "ok", "b": "ok", "broken": "error", "slow": "timeout"}
    assert council["passed"] is True and council["needed"] == 2
    assert elapsed < 1.0


# -- judge picks best ------------------------------------------------------------


async def test_judge_picks_the_best_scored_answer() -> None:
    routers = """
    v: {kind: council, strategy: judge, members: [a, dunno, quick], judge: {kind: heuristic, min_chars: 20}}
    """
    async with engine(routers) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert done.model == "quick" and council["best"] == "quick" and council["score"] == 1.0
    scores = {m["member"]: m["verdict"]["score"] for m in council["members"]}
    assert scores["a"] < 1.0 and scores["dunno"] < 1.0
    assert council["passed"] is True


async def test_judge_strategy_marks_a_best_answer_below_the_gate() -> None:
    routers = "v: {kind: council, strategy: judge, members: [a, c], judge: {kind: heuristic, min_chars: 50}}"
    async with engine(routers) as e:
        done = await e.chat(ask())
    assert done.trace.details["council"]["passed"] is False and "NOT PASSING" in done.decision.reason


# -- adversarial review ------------------------------------------------------------


REVIEW = """
v:
  kind: council
  strategy: review
  writer: writer
  reviewers: %s
  max_rounds: %d
"""


async def test_review_loop_revises_until_every_reviewer_approves() -> None:
    async with engine(REVIEW % ("[critic-a, critic-b]", 3)) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["approved"] is True and council["passed"] is True and council["stopped"] == "approved"
    assert done.text == "Draft 2: Paris is in France." and done.model == "writer"
    first, second = council["rounds"]
    assert first["draft"].startswith("Draft 1") and first["approvals"] == 0 and first["approved"] is False
    assert [r["approved"] for r in first["reviews"]] == [False, False]
    assert second["approvals"] == 2 and second["approved"] is True
    assert [p for _, _, p in statuses(done)] == [
        "council-write", "review", "review", "council-revise", "review", "review",
    ]  # fmt: skip
    assert "approved in round 2" in done.decision.reason
    assert_cost_is_every_attempt(done)
    json.dumps(done.trace.details)  # telemetry stores it as JSON
    json.loads(done.decision.model_dump_json())


async def test_review_stops_at_max_rounds_with_the_final_draft() -> None:
    async with engine(REVIEW % ("[approver, hard]", 2)) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["approved"] is False and council["stopped"] == "max_rounds" and len(council["rounds"]) == 2
    assert done.text.startswith("Draft 2")  # one revision between the two rounds
    assert [p for _, _, p in statuses(done)].count("council-revise") == 1
    assert "NOT APPROVED" in done.decision.reason
    assert_cost_is_every_attempt(done)


async def test_failing_reviewer_is_recorded_and_does_not_sink_the_round() -> None:
    async with engine(REVIEW % ("[approver, broken]", 3)) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    (only,) = council["rounds"]
    assert council["approved"] is True and only["responded"] == 1 and only["quorum_met"] is True
    assert only["reviews"][1]["status"] == "error" and "UpstreamServerError" in only["reviews"][1]["error"]
    assert [ev.kind for ev in done.trace.events].count("reviewer_failed") == 1


async def test_quorum_not_met_means_no_approval() -> None:
    routers = (REVIEW % ("[approver, broken]", 2)) + "  quorum: 2\n"
    async with engine(routers) as e:
        done = await e.chat(ask())
    council = done.trace.details["council"]
    assert council["approved"] is False and council["stopped"] == "max_rounds"
    assert all(r["quorum_met"] is False for r in council["rounds"])


async def test_timed_out_reviewer_is_cancelled_and_recorded() -> None:
    routers = (REVIEW % ("[approver, sleepy]", 3)) + "  member_timeout_ms: 100\n"
    async with engine(routers) as e:
        started = time.perf_counter()
        done = await e.chat(ask())
        elapsed = time.perf_counter() - started
    council = done.trace.details["council"]
    assert council["approved"] is True and council["rounds"][0]["reviews"][1]["status"] == "timeout"
    assert ("sleepy", "cancelled", "review") in statuses(done)
    assert elapsed < 1.0


async def test_missing_verdict_counts_as_reject_with_reason() -> None:
    async with engine(REVIEW % ("[silent]", 1)) as e:
        done = await e.chat(ask())
    review = done.trace.details["council"]["rounds"][0]["reviews"][0]
    assert review["approved"] is False and "no VERDICT" in review["verdict"]
    assert done.trace.details["council"]["approved"] is False


async def test_conflicting_verdicts_last_one_wins() -> None:
    async with engine(REVIEW % ("[flip]", 1)) as e:
        done = await e.chat(ask())
    review = done.trace.details["council"]["rounds"][0]["reviews"][0]
    assert review["approved"] is False and "conflicting" in review["verdict"]


def test_revision_request_carries_every_critique() -> None:
    loop = ReviewLoop(Member(0, "writer", "writer"), [], max_rounds=1, quorum=1, timeout_s=None)
    draft = ChatResponse(model="writer", provider="sim", text="Draft 1")
    critiques = [
        MemberResult(Member(i, f"r{i}", f"r{i}"), "ok", ChatResponse(model=f"r{i}", provider="sim", text=t))
        for i, t in enumerate(["Fix the country. VERDICT: REJECT", "Cite a source. VERDICT: REJECT"])
    ]
    revised = loop.revise_request(ask(), draft, critiques)
    assert [m.role for m in revised.messages] == ["user", "assistant", "user"]
    assert revised.messages[1].text == "Draft 1"
    assert "Fix the country" in revised.messages[-1].text and "Cite a source" in revised.messages[-1].text
    review = loop.review_request(ask(), draft)
    assert "Draft 1" in review.messages[-1].text and "VERDICT: APPROVE" in review.messages[0].text


@pytest.mark.parametrize(
    ("text", "approved"),
    [
        ("Solid work.\n**VERDICT: APPROVE**", True),
        ("verdict: approve", True),
        ("VERDICT: APPROVE.", True),
        ("Verdict: **Approved**!", True),
        ("VERDICT - reject", False),
        ("VERDICT: REJECT!!", False),
        ("VERDICT: APPROVE\nWait — VERDICT: REJECT", False),
        ("VERDICT: REJECT\nAfter the fix: VERDICT: APPROVE", True),
        ("I approve of this draft.", False),
        ("", False),
    ],
)
def test_verdict_parsing_variants(text: str, approved: bool) -> None:
    verdict = parse_verdict(text)
    assert verdict.approved is approved
    if "VERDICT" not in text.upper():
        assert verdict.found is False and "no VERDICT" in verdict.reason


@pytest.mark.parametrize(
    ("routers", "key"),
    [
        ("v: {kind: council, strategy: review, reviewers: [a]}", "routers.v"),
        ("v: {kind: council, strategy: review, writer: writer, reviewers: [a], quorum: 2}", "routers.v"),
        (
            "v: {kind: council, strategy: review, writer: writer, reviewers: [a, nosuch]}",
            "routers.v.reviewers[1]",
        ),
        ("v: {kind: council, strategy: majority, members: [a, 'router:v']}", "routers.v.members"),
        ("v: {kind: council, strategy: judge, members: [a, b]}", "routers.v"),
        ("v: {kind: council, strategy: majority, members: [a], extract: 'paris'}", "routers.v.extract"),
        (
            "v: {kind: council, strategy: judge, members: [a], judge: {kind: llm, model: nosuch}}",
            "routers.v.judge.model",
        ),
    ],
)
def test_council_config_errors_name_the_key_path(routers: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        engine(routers)
    assert f"council.yaml: {key}:" in str(info.value)
