"""``kind: council`` — fan a request out to several models under one deadline.

Strategies: ``first_valid`` (first answer a validity judge accepts; the rest
are cancelled), ``majority`` (vote on normalised answers, for constrained
outputs), ``judge`` (a judge scores every answer; the best wins) and
``review`` (the adversarial write → review → revise loop, see `review`).
Every call goes through ``ctx.call``, so every member, judge, review and
revision is an attempt on the trace and counts in the request's cost.
``details.council.passed`` says whether the result is valid / agreed /
approved; when it is not, the decision reason says so.
"""

from __future__ import annotations

import re
from typing import Any

from modelyard.config.routers.council import CouncilSpec
from modelyard.config.routers.judge_specs import HeuristicJudgeSpec
from modelyard.errors import ConfigError, RoutingError
from modelyard.routing.base import BuildContext, ExecutingRouter, Execution, RouteContext
from modelyard.routing.council.fanout import resolve_member
from modelyard.routing.council.review import REVIEWER_INSTRUCTIONS, REVISE_INSTRUCTIONS, ReviewLoop
from modelyard.routing.council.strategies import Outcome, first_valid, judge_best, majority
from modelyard.routing.council.verdict import ReviewVerdict, parse_verdict
from modelyard.routing.judges import Judge, build_judge
from modelyard.types import ChatRequest, Decision, Target

__all__ = ["CouncilRouter", "ReviewVerdict", "parse_verdict"]


class CouncilRouter(ExecutingRouter):
    kind = "council"

    def __init__(self, spec: CouncilSpec, judge: Judge | None) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.judge = judge
        self.extract = re.compile(spec.extract) if spec.extract else None
        self.timeout_s = spec.member_timeout_ms / 1000.0 if spec.member_timeout_ms else None

    @classmethod
    def from_spec(cls, spec: CouncilSpec, build: BuildContext) -> CouncilRouter:
        judge_spec = spec.judge
        if judge_spec is None and spec.strategy == "first_valid":
            judge_spec = HeuristicJudgeSpec()
        try:
            judge = build_judge(judge_spec, build, key="judge") if judge_spec is not None else None
        except ConfigError as exc:
            raise ConfigError(exc.reason, key=f"routers.{spec.name}.{exc.key}" if exc.key else None) from None
        return cls(spec, judge)

    async def execute(self, request: ChatRequest, ctx: RouteContext) -> Execution:
        if ctx.call is None:
            raise RoutingError(f"council {self.name!r} needs a model call path")
        first_attempt = len(ctx.trace.attempts)
        s = self.spec
        base = request.model_copy(update={"stream": False})
        if s.strategy == "review":
            outcome = await self._review(base, ctx)
        else:
            members = [resolve_member(i, ref, base, ctx) for i, ref in enumerate(s.members)]
            if s.strategy == "first_valid":
                assert self.judge is not None
                outcome = await first_valid(
                    members, base, ctx, judge=self.judge, gate=s.gate, timeout_s=self.timeout_s
                )
            elif s.strategy == "majority":
                outcome = await majority(
                    members,
                    base,
                    ctx,
                    extract=self.extract,
                    min_agreement=s.min_agreement,
                    timeout_s=self.timeout_s,
                )
            else:
                assert self.judge is not None
                outcome = await judge_best(
                    members, base, ctx, judge=self.judge, gate=s.gate, timeout_s=self.timeout_s
                )
        attempts = ctx.trace.attempts[first_attempt:]
        summary: dict[str, Any] = {
            "router": self.name,
            "strategy": s.strategy,
            "passed": outcome.passed,
            "answer_model": outcome.model,
            **outcome.details,
            "cost_usd": sum(a.cost_usd for a in attempts),
        }
        spec = ctx.registry.get(outcome.model)
        decision = Decision(
            target=Target(kind="model", name=outcome.model),
            router=self.name,
            reason=f"council {s.strategy}: {outcome.reason}",
            path=[self.name],
            model=outcome.model,
            family=spec.family,
            details={"council": summary},
        )
        details = {"council": {**summary, "attempts": [a.model_dump(mode="json") for a in attempts]}}
        return Execution(response=outcome.response, decision=decision, details=details)

    async def _review(self, request: ChatRequest, ctx: RouteContext) -> Outcome:
        s = self.spec
        assert s.writer is not None
        writer = resolve_member(0, s.writer, request, ctx)
        if writer.model is None:
            raise RoutingError(f"council {self.name!r}: writer unavailable ({writer.skip_reason})")
        loop = ReviewLoop(
            writer=writer,
            reviewers=[resolve_member(i, ref, request, ctx) for i, ref in enumerate(s.reviewers)],
            max_rounds=s.max_rounds,
            quorum=s.quorum,
            timeout_s=self.timeout_s,
            reviewer_instructions=s.reviewer_instructions or REVIEWER_INSTRUCTIONS,
            revise_instructions=s.revise_instructions or REVISE_INSTRUCTIONS,
        )
        result = await loop.run(request, ctx)
        n = len(result.rounds)
        if result.approved:
            last = result.rounds[-1]
            reason = (
                f"approved in round {n} by {last['approvals']} of {last['responded']} reviewers "
                f"who answered ({len(s.reviewers)} asked, quorum {s.quorum})"
            )
        else:
            rounds = f"{n} round{'s' if n != 1 else ''}"
            reason = (
                f"not approved ({result.stopped} after {rounds}); returning the final draft, NOT APPROVED"
            )
        for r in result.rounds:
            for review in r["reviews"]:
                if review["status"] != "ok":
                    ctx.trace.event(
                        "reviewer_failed",
                        f"council {self.name}: reviewer {review['member']} {review['status']} "
                        f"in round {r['round']}",
                        round=r["round"],
                        reviewer=review["member"],
                    )
        details = {"approved": result.approved, "stopped": result.stopped, "rounds": result.rounds}
        return Outcome(
            result.draft, writer.model, result.approved, reason, {"writer": writer.model, **details}
        )
