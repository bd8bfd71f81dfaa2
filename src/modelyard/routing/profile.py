"""``kind: profile`` — route by the task's five-property profile.

Derives the profile (`modelyard.profile.derive_profile`) and walks the table
(data: `DEFAULT_TABLE` or the config's ``table:``); the first matching row
names the target. The decision carries the profile, so ``--explain`` and
telemetry show what the router saw.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.config.routers.profile import ProfileMatch, ProfileRow, ProfileSpec
from modelyard.profile import cost_constrained, derive_profile, wants_image_output
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.targets import TargetList, compile_choice
from modelyard.types import Candidate, ChatRequest, Decision, Target, TaskProfile

__all__ = ["CompiledRow", "ProfileRouter"]

_PROFILE_KEYS = ("output_space", "modality", "latency_budget", "volume", "precision")


@dataclass(frozen=True, slots=True)
class CompiledRow:
    name: str
    #: (profile field, accepted values) pairs; omitted fields match anything
    fields: tuple[tuple[str, frozenset[str]], ...]
    cost_constrained: bool | None
    image_output: bool | None
    choice: TargetList
    label: str
    hit: Candidate
    #: "why not" candidates by reason, built on first use (the reasons are a small finite set)
    misses: dict[str, Candidate]

    @classmethod
    def build(cls, index: int, row: ProfileRow, routers: Collection[str]) -> CompiledRow:
        when = row.when
        fields = tuple(
            (key, frozenset([value] if isinstance(value, str) else value))
            for key in _PROFILE_KEYS
            if (value := getattr(when, key)) is not None
        )
        name = row.name or f"table[{index}]"
        label = _label(when)
        return cls(
            name=name,
            fields=fields,
            cost_constrained=when.cost_constrained,
            image_output=when.image_output,
            choice=compile_choice(row.target, routers),
            label=label,
            hit=Candidate(name=f"row {name!r}", accepted=True, reason=f"matched ({label})"),
            misses={},
        )

    def miss(self, why: str) -> Candidate:
        candidate = self.misses.get(why)
        if candidate is None:
            candidate = self.misses[why] = Candidate(name=f"row {self.name!r}", accepted=False, reason=why)
        return candidate

    def mismatch(self, profile: TaskProfile, signals: Mapping[str, bool]) -> str | None:
        """The first property that rules this row out, or None when it matches."""
        for key, accepted in self.fields:
            value = getattr(profile, key)
            if value not in accepted:
                return f"{key} is {value}"
        if self.cost_constrained is not None and signals["cost_constrained"] != self.cost_constrained:
            return "cost cap set" if signals["cost_constrained"] else "no cost cap"
        if self.image_output is not None and signals["image_output"] != self.image_output:
            return "asks for an image" if signals["image_output"] else "does not ask for an image"
        return None


def _label(when: ProfileMatch) -> str:
    parts = []
    for key, value in when.model_dump(exclude_none=True).items():
        shown = "|".join(value) if isinstance(value, list) else str(value)
        shown = shown.lower() if isinstance(value, bool) else shown
        parts.append(f"{key}={shown}")
    return ", ".join(parts) or "any profile"


class ProfileRouter(Router):
    """First table row matching the derived profile wins; ``default`` otherwise."""

    kind = "profile"

    def __init__(
        self,
        name: str,
        rows: tuple[CompiledRow, ...],
        default: TargetList,
        *,
        volume_per_day: int | None = None,
        tenant_volume_per_day: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(name)
        self.rows = rows
        self.default = default
        self.volume_per_day = volume_per_day
        self.tenant_volume_per_day = dict(tenant_volume_per_day or {})

    @classmethod
    def from_spec(cls, spec: ProfileSpec, build: BuildContext) -> ProfileRouter:
        rows = tuple(CompiledRow.build(i, row, build.routers) for i, row in enumerate(spec.rows()))
        return cls(
            spec.name,
            rows,
            compile_choice(spec.default, build.routers),
            volume_per_day=spec.volume_per_day,
            tenant_volume_per_day=spec.tenant_volume_per_day,
        )

    def volume_for(self, request: ChatRequest) -> int | None:
        """Configured daily volume: the tenant's if known, else the route's."""
        tenant = request.hints.tenant
        if tenant is not None and tenant in self.tenant_volume_per_day:
            return self.tenant_volume_per_day[tenant]
        return self.volume_per_day

    def profile(self, request: ChatRequest) -> TaskProfile:
        return derive_profile(request, volume_per_day=self.volume_for(request))

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return self.decide_now(request, ctx)

    def decide_now(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        """The decision, synchronously (profiling never waits on anything)."""
        profile = self.profile(request)
        signals = {"cost_constrained": cost_constrained(request), "image_output": wants_image_output(request)}
        skipped: list[Candidate] = []
        for row in self.rows:
            why = row.mismatch(profile, signals)
            if why is not None:
                skipped.append(row.miss(why))
                continue
            target, unavailable = row.choice.pick(request, ctx)
            if target is None:  # no target of this row can serve this shape: next row
                skipped.extend(unavailable)
                skipped.append(row.miss("matched, but none of its targets can serve this request"))
                continue
            return self._decision(
                target,
                f"profile matched row {row.name!r} → {target.name}",
                profile,
                [*skipped, row.hit, *unavailable],
                row=row.name,
                signals=signals,
            )
        target, unavailable = self.default.pick_or_last(request, ctx)
        return self._decision(
            target,
            f"no profile row matched; default → {target.name}",
            profile,
            [*skipped, *unavailable],
            row=None,
            signals=signals,
        )

    def _decision(
        self,
        target: Target,
        reason: str,
        profile: TaskProfile,
        candidates: list[Candidate],
        **details: Any,
    ) -> Decision:
        return Decision(
            target=target,
            router=self.name,
            reason=reason,
            candidates=candidates,
            path=[self.name],
            profile=profile,
            details=details,
        )
