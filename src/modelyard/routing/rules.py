"""``kind: rules`` — ordered, declarative rules; the first that matches wins.

Transparent and deterministic, with no training data and next to no overhead:
rules are compiled once (regexes, custom predicates, targets) and deciding a
request walks them until one holds. The decision lists every rule checked
before the winner with the condition that failed it; those explanations are
built at compile time, so recording them costs a list append.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from modelyard.config.routers.rules import Refusal, Rule, RulesSpec
from modelyard.errors import RequestError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.predicates import Check, Facts, PredicateRegistry, compile_condition, first_failure
from modelyard.routing.targets import TargetList, compile_choice
from modelyard.types import Candidate, ChatRequest, Decision

__all__ = ["CompiledRule", "RulesRouter"]

_NONE_CAPABLE = "none of its targets can serve this request; next rule"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    name: str
    checks: tuple[Check, ...]
    choice: TargetList | None
    refusal: Refusal | None
    #: per check: the candidate entry saying this rule was skipped because that check failed
    misses: tuple[Candidate, ...]
    hit: Candidate

    @classmethod
    def build(
        cls, index: int, rule: Rule, key: str, routers: Collection[str], registry: PredicateRegistry | None
    ) -> CompiledRule:
        name = rule.name or f"rule[{index}]"
        checks = compile_condition(rule.when, f"{key}.when", registry)
        label = f"rule {name!r}"
        misses = tuple(
            Candidate(name=label, accepted=False, reason=f"{c.label} did not hold") for c in checks
        )
        choice = compile_choice(rule.target, routers) if rule.target is not None else None
        conditions = ", ".join(c.label for c in checks) or "always"
        outcome = f"→ {choice}" if choice is not None else "→ refuse"
        hit = Candidate(name=label, accepted=True, reason=f"matched ({conditions}) {outcome}")
        return cls(index, name, checks, choice, rule.refuse, misses, hit)


class RulesRouter(Router):
    """First matching rule wins; ``default`` when none matches."""

    kind = "rules"

    def __init__(self, name: str, rules: tuple[CompiledRule, ...], default: TargetList) -> None:
        super().__init__(name)
        self.rules = rules
        self.default = default

    @classmethod
    def from_spec(
        cls, spec: RulesSpec, build: BuildContext, *, predicates: PredicateRegistry | None = None
    ) -> RulesRouter:
        key = f"routers.{spec.name}.rules"
        rules = tuple(
            CompiledRule.build(i, rule, f"{key}[{i}]", build.routers, predicates)
            for i, rule in enumerate(spec.rules)
        )
        return cls(spec.name, rules, compile_choice(spec.default, build.routers))

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return self.decide_now(request, ctx)

    def decide_now(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        """The decision, synchronously (rules never wait on anything)."""
        facts = Facts(request)
        skipped: list[Candidate] = []
        for rule in self.rules:
            failed = first_failure(rule.checks, facts)
            if failed >= 0:
                skipped.append(rule.misses[failed])
                continue
            if rule.refusal is not None:
                self._refuse(rule, ctx)
            assert rule.choice is not None
            target, unavailable = rule.choice.pick(request, ctx)
            if target is None:  # no target of this rule can serve this shape: fall through to the next rule
                skipped.extend(unavailable)
                skipped.append(Candidate(name=rule.hit.name, accepted=False, reason=f"matched, but {_NONE_CAPABLE}"))
                continue
            skipped.append(rule.hit)
            return Decision(
                target=target,
                router=self.name,
                reason=f"rule {rule.name!r} matched → {target.name}",
                candidates=[*skipped, *unavailable] if unavailable else skipped,
                path=[self.name],
                details={"rule": rule.name, "rule_index": rule.index, "rules_checked": rule.index + 1},
            )
        target, unavailable = self.default.pick_or_last(request, ctx)
        return Decision(
            target=target,
            router=self.name,
            reason=f"no rule matched; default → {target.name}",
            candidates=[*skipped, *unavailable] if unavailable else skipped,
            path=[self.name],
            details={"rule": None, "rule_index": None, "rules_checked": len(self.rules)},
        )

    def _refuse(self, rule: CompiledRule, ctx: RouteContext) -> None:
        assert rule.refusal is not None
        refusal = rule.refusal
        ctx.trace.event("refused", refusal.message, router=self.name, rule=rule.name, code=refusal.code)
        raise RequestError(refusal.message, param=refusal.param, code=refusal.code)
