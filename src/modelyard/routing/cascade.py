"""``kind: cascade`` — cheapest step first; escalate until a judge's score clears the gate.

Each step is a model or a family and has a judge and a gate. The step's answer
is judged; if the verdict clears the gate it is returned, otherwise the next
step runs. Every model call (steps and paid judges) goes through ``ctx.call``
and so lands on the trace with its cost: the request's cost is every attempt.

Three ways to end:

* ``accepted``: a step passed; ``details.cascade.passed`` is true.
* ``exhausted``: no step passed; the last answer is returned with
  ``passed: false`` and a decision reason that says NOT PASSING.
* ``deadline``: the time left could not cover the next step's p50 latency, so
  the cascade stopped escalating and returned the last answer, not passing.

A step whose call fails is recorded and escalates (``on_error: escalate``);
only when no step produced any answer does the cascade raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.config.routers.cascade import CascadeSpec
from modelyard.errors import ConfigError, ModelyardError, RoutingError
from modelyard.routing.base import BuildContext, ExecutingRouter, Execution, RouteContext
from modelyard.routing.judges import Judge, NoSignal, Verdict, accepts, build_judge, wants_logprobs
from modelyard.types import Candidate, ChatRequest, ChatResponse, Decision, Family, Target

__all__ = ["CascadeRouter", "CascadeStep"]


@dataclass(frozen=True)
class CascadeStep:
    target: Target
    judge: Judge
    gate: float
    no_signal: NoSignal = "fail"


@dataclass
class _Answer:
    step: int
    model: str
    response: ChatResponse
    verdict: Verdict


class CascadeRouter(ExecutingRouter):
    kind = "cascade"

    def __init__(
        self, name: str, steps: list[CascadeStep], *, deadline_aware: bool = True, on_error: str = "escalate"
    ) -> None:
        super().__init__(name)
        if not steps:
            raise ValueError("a cascade needs at least one step")
        self.steps = steps
        self.deadline_aware = deadline_aware
        self.on_error = on_error

    @classmethod
    def from_spec(cls, spec: CascadeSpec, build: BuildContext) -> CascadeRouter:
        try:
            default = build_judge(spec.judge, build, key="judge")
            steps = [
                CascadeStep(
                    target=Target.parse(step.target),
                    judge=build_judge(step.judge, build, key=f"steps[{i}].judge") if step.judge else default,
                    gate=step.gate if step.gate is not None else spec.gate,
                    no_signal=step.no_signal or spec.no_signal,
                )
                for i, step in enumerate(spec.steps)
            ]
        except ConfigError as exc:
            raise ConfigError(exc.reason, key=f"routers.{spec.name}.{exc.key}" if exc.key else None) from None
        return cls(spec.name, steps, deadline_aware=spec.deadline_aware, on_error=spec.on_error)

    async def execute(self, request: ChatRequest, ctx: RouteContext) -> Execution:
        if ctx.call is None:
            raise RoutingError(f"cascade {self.name!r} needs a model call path")
        first_attempt = len(ctx.trace.attempts)
        records: list[dict[str, Any]] = []
        last: _Answer | None = None
        accepted: _Answer | None = None
        last_error: ModelyardError | None = None
        outcome = "exhausted"
        for i, step in enumerate(self.steps):
            try:
                model = self._model(step.target, request, ctx)
            except ModelyardError as exc:
                records.append(
                    {"step": i, "target": str(step.target), "status": "skipped", "reason": str(exc)}
                )
                last_error = exc
                continue
            if i > 0 and last is not None and self.deadline_aware:
                p50 = ctx.registry.get(model).latency_p50_ms
                left = ctx.deadline.remaining_ms()
                if left < p50:
                    why = f"{left:.0f} ms left < p50 {p50:.0f} ms of step {i} ({model})"
                    ctx.trace.event("deadline_stop", f"cascade {self.name}: {why}", step=i, model=model)
                    records.append(
                        {
                            "step": i,
                            "target": str(step.target),
                            "model": model,
                            "status": "not_run",
                            "reason": why,
                        }
                    )
                    outcome = "deadline"
                    break
            mark = len(ctx.trace.attempts)
            try:
                response = await ctx.call(model, self._step_request(request, step), purpose="cascade-step")
            except ModelyardError as exc:
                records.append(
                    {
                        "step": i,
                        "target": str(step.target),
                        "model": model,
                        "status": "error",
                        "reason": str(exc)[:300],
                        "cost_usd": _cost(ctx, mark),
                    }
                )
                last_error = exc
                if self.on_error == "raise":
                    raise
                self._escalate(ctx, i, model, f"call failed: {exc}")
                continue
            judge_mark = len(ctx.trace.attempts)
            verdict = await step.judge.judge(request, response, ctx)
            ok, why = accepts(verdict, step.gate, step.no_signal)
            records.append({
                "step": i, "target": str(step.target), "model": model, "status": "ok",
                "score": verdict.score, "gate": step.gate, "passed": ok, "reason": why,
                "verdict": verdict.to_dict(), "latency_ms": round(response.latency_ms, 3),
                "cost_usd": response.cost_usd, "judge_cost_usd": _cost(ctx, judge_mark),
            })  # fmt: skip
            last = _Answer(i, model, response, verdict)
            if ok:
                accepted, outcome = last, "accepted"
                break
            self._escalate(ctx, i, model, why)
        if last is None:
            if last_error is not None:
                raise last_error
            raise RoutingError(f"cascade {self.name!r}: no step produced an answer")
        return self._result(accepted or last, accepted is not None, outcome, records, ctx, first_attempt)

    def _model(self, target: Target, request: ChatRequest, ctx: RouteContext) -> str:
        if target.kind == "family":
            return ctx.select(Family(target.name), request).model.name
        spec = ctx.registry.get(target.name)
        if not ctx.is_available(spec.name):
            why = "disabled in config" if not spec.enabled else ctx.availability.unavailable_reason(spec.name)
            raise RoutingError(f"model {spec.name!r} is unavailable: {why}")
        return spec.name

    @staticmethod
    def _step_request(request: ChatRequest, step: CascadeStep) -> ChatRequest:
        update: dict[str, Any] = {"stream": False}
        if wants_logprobs(step.judge) and request.logprobs is None:
            update["logprobs"] = True
        return request.model_copy(update=update)

    def _escalate(self, ctx: RouteContext, step: int, model: str, why: str) -> None:
        if step + 1 < len(self.steps):
            ctx.trace.event(
                "escalation", f"cascade {self.name}: step {step} ({model}) → step {step + 1}: {why}",
                router=self.name, from_step=step, to_step=step + 1, model=model,
            )  # fmt: skip

    def _result(
        self,
        answer: _Answer,
        passed: bool,
        outcome: str,
        records: list[dict[str, Any]],
        ctx: RouteContext,
        first_attempt: int,
    ) -> Execution:
        attempts = ctx.trace.attempts[first_attempt:]
        escalations = sum(1 for r in records if r["status"] in ("ok", "error") and not r.get("passed"))
        if passed:
            reason = f"cascade: step {answer.step} ({answer.model}) accepted, {records[-1]['reason']}"
            if escalations:
                reason += f", after {escalations} escalation{'s' if escalations > 1 else ''}"
        elif outcome == "deadline":
            reason = (
                f"cascade stopped by deadline ({records[-1]['reason']}); returning step {answer.step} "
                f"({answer.model}) answer, NOT PASSING its gate"
            )
        else:
            reason = (
                f"cascade exhausted: no step passed its gate; returning the last answer "
                f"(step {answer.step}, {answer.model}), NOT PASSING"
            )
        summary: dict[str, Any] = {
            "router": self.name,
            "passed": passed,
            "outcome": outcome,
            "accepted_step": answer.step if passed else None,
            "answer_step": answer.step,
            "answer_model": answer.model,
            "score": answer.verdict.score,
            "steps": records,
            "cost_usd": sum(a.cost_usd for a in attempts),
        }
        if answer.verdict.score is not None:
            ctx.trace.quality["judge_score"] = answer.verdict.score
        candidates = [
            Candidate(
                name=f"step {r['step']}: {r.get('model', r['target'])}",
                accepted=bool(r.get("passed")) and passed and r["step"] == answer.step,
                reason=str(r["reason"]),
                score=r.get("score"),
            )
            for r in records
        ]
        spec = ctx.registry.get(answer.model)
        decision = Decision(
            target=Target(kind="model", name=answer.model),
            router=self.name,
            reason=reason,
            confidence=answer.verdict.score,
            candidates=candidates,
            path=[self.name],
            model=answer.model,
            family=spec.family,
            details={"cascade": summary},
        )
        details = {"cascade": {**summary, "attempts": [a.model_dump(mode="json") for a in attempts]}}
        return Execution(response=answer.response, decision=decision, details=details)


def _cost(ctx: RouteContext, since: int) -> float:
    return sum(a.cost_usd for a in ctx.trace.attempts[since:])
