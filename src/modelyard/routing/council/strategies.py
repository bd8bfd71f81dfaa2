"""Council strategies over concurrent members: first valid, majority vote, judge picks best.

Each returns an `Outcome`: the chosen member's answer, whether it "passed"
(valid / agreed / cleared the judge's gate), a reason, and JSON details.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import RoutingError
from modelyard.routing.base import RouteContext
from modelyard.routing.council.fanout import Member, MemberResult, fan_out, first_of
from modelyard.routing.judges import Judge, Verdict, accepts
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["Outcome", "first_valid", "judge_best", "majority", "normalise"]

_EDGES = " \t\r\n.,;:!?'\"`*_()[]{}<>«»“”‘’"


@dataclass
class Outcome:
    response: ChatResponse
    model: str
    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def _no_answer(results: Sequence[MemberResult]) -> RoutingError:
    why = "; ".join(f"{r.member.ref}: {r.status} ({r.error})" for r in results)
    return RoutingError(f"council: no member answered ({why})")


async def first_valid(
    members: Sequence[Member],
    request: ChatRequest,
    ctx: RouteContext,
    *,
    judge: Judge,
    gate: float,
    timeout_s: float | None,
) -> Outcome:
    """The first answer the validity judge accepts wins; slower members are cancelled."""
    verdicts: dict[int, Verdict] = {}

    async def good(result: MemberResult) -> bool:
        assert result.response is not None
        verdict = await judge.judge(request, result.response, ctx)
        verdicts[result.member.index] = verdict
        result.extra["verdict"] = verdict.to_dict()
        return accepts(verdict, gate)[0]

    winner, results = await first_of(members, request, ctx, purpose="council", timeout_s=timeout_s, good=good)
    details: dict[str, Any] = {"members": [r.to_dict() for r in results]}
    if winner is not None and winner.response is not None:
        model = winner.member.model or winner.response.model
        return Outcome(winner.response, model, True, f"first valid answer came from {model}", details)
    answered = [r for r in results if r.ok]
    if not answered:
        raise _no_answer(results)
    fallback = answered[0]
    assert fallback.response is not None
    model = fallback.member.model or fallback.response.model
    reason = f"no member's answer was valid; returning {model}'s answer, NOT VALID"
    return Outcome(fallback.response, model, False, reason, details)


def normalise(text: str, extract: re.Pattern[str] | None = None) -> str:
    """The comparable core of a constrained answer: extracted, case-folded, trimmed."""
    if extract is not None:
        match = extract.search(text)
        if match is None:
            return ""
        text = match.group(1) or ""
    text = " ".join(text.split()).casefold()
    return text.strip(_EDGES)


async def majority(
    members: Sequence[Member],
    request: ChatRequest,
    ctx: RouteContext,
    *,
    extract: re.Pattern[str] | None,
    min_agreement: int | None,
    timeout_s: float | None,
) -> Outcome:
    """Most common normalised answer; ties go to the earlier member. Passed = enough votes agree."""
    results = await fan_out(members, request, ctx, purpose="council", timeout_s=timeout_s)
    votes: dict[str, list[MemberResult]] = {}
    for r in results:
        if r.ok:
            assert r.response is not None
            key = normalise(r.response.text, extract)
            r.extra["vote"] = key or None
            if key:
                votes.setdefault(key, []).append(r)
    if not votes:
        if not any(r.ok for r in results):
            raise _no_answer(results)
        answered = next(r for r in results if r.ok)
        assert answered.response is not None
        model = answered.member.model or answered.response.model
        empty: dict[str, Any] = {"members": [r.to_dict() for r in results], "votes": {}}
        return Outcome(answered.response, model, False, "no member gave a countable answer", empty)
    cast = sum(len(v) for v in votes.values())
    needed = min_agreement or cast // 2 + 1
    answer, backers = max(votes.items(), key=lambda kv: (len(kv[1]), -kv[1][0].member.index))
    chosen = backers[0]
    assert chosen.response is not None
    model = chosen.member.model or chosen.response.model
    agreed = len(backers) >= needed
    tally = f"{len(backers)} of {cast} votes for {answer!r} (need {needed})"
    reason = (
        f"majority: {tally}"
        if agreed
        else f"no majority: {tally}; returning the plurality answer, NOT AGREED"
    )
    details = {
        "members": [r.to_dict() for r in results],
        "votes": {k: [r.member.ref for r in v] for k, v in votes.items()},
        "winner": answer,
        "needed": needed,
    }
    return Outcome(chosen.response, model, agreed, reason, details)


async def judge_best(
    members: Sequence[Member],
    request: ChatRequest,
    ctx: RouteContext,
    *,
    judge: Judge,
    gate: float,
    timeout_s: float | None,
) -> Outcome:
    """Every member answers; the judge scores each answer (concurrently); the top score wins."""
    results = await fan_out(members, request, ctx, purpose="council", timeout_s=timeout_s)
    answered = [r for r in results if r.ok]
    if not answered:
        raise _no_answer(results)
    verdicts = await asyncio.gather(*(judge.judge(request, r.response, ctx) for r in answered if r.response))
    for r, v in zip(answered, verdicts, strict=True):
        r.extra["verdict"] = v.to_dict()
    best_i = max(
        range(len(answered)), key=lambda i: (verdicts[i].score if verdicts[i].score is not None else -1.0, -i)
    )
    best, verdict = answered[best_i], verdicts[best_i]
    assert best.response is not None
    model = best.member.model or best.response.model
    ok, why = accepts(verdict, gate)
    score = "no score" if verdict.score is None else f"score {verdict.score:.2f}"
    reason = f"judge picked {model} ({score} of {len(answered)} answers)"
    if not ok:
        reason += f"; best answer does not clear the gate ({why}), NOT PASSING"
    details = {"members": [r.to_dict() for r in results], "best": best.member.ref, "score": verdict.score}
    return Outcome(best.response, model, ok, reason, details)
