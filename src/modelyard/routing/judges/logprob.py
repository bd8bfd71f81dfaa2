"""``kind: logprob`` — the model's own token confidence, where the provider returns it.

The score is the geometric-mean token probability, ``exp(mean(logprob))``: one
very unsure token pulls it down more than an arithmetic mean would.

Many providers (and the simulated backend) return no log-probs. Then this judge
answers *no signal* (``score=None``) instead of guessing: inside a composition
the other judges decide; used alone, the step's ``no_signal`` setting decides
(by default the answer does not pass and the cascade escalates).
"""

from __future__ import annotations

import math

from modelyard.config.routers.judge_specs import LogprobJudgeSpec
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Verdict
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["LogprobJudge"]


class LogprobJudge:
    kind = "logprob"
    wants_logprobs = True

    def __init__(self, spec: LogprobJudgeSpec) -> None:
        self.spec = spec

    @classmethod
    def from_spec(cls, spec: LogprobJudgeSpec, build: BuildContext) -> LogprobJudge:
        return cls(spec)

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        values = [v for v in (answer.logprobs or []) if math.isfinite(v) and v <= 0.0]
        if len(values) < self.spec.min_tokens:
            why = (
                "provider returned no log-probs"
                if not answer.logprobs
                else f"only {len(values)} usable log-probs"
            )
            return Verdict.no_signal(why, self.kind)
        mean = sum(values) / len(values)
        score = math.exp(mean)
        return Verdict(
            score,
            None,
            f"mean token probability {score:.3f} over {len(values)} tokens",
            self.kind,
            {"tokens": len(values), "min_token_prob": round(math.exp(min(values)), 6)},
        )
