"""``kind: profile`` — the five-property decision framework as a routing table.

The router derives the task profile of each request (`modelyard.profile`) and
walks a table of rows; the first row whose ``when`` matches names the family.
Each ``when`` key is one of the five properties (a value or a list of values)
or one of two extra signals: ``cost_constrained`` (the request carries a
``max_cost_usd`` cap) and ``image_output`` (it asks for a picture).

YAML::

    routers:
      by-profile:
        kind: profile
        volume_per_day: 2000000          # this route's daily volume
        tenant_volume_per_day: {acme: 20000}
        # table: [...]                   # replaces DEFAULT_TABLE when given
        default: llm
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.config.routers.base import RouterSpec
from modelyard.config.routers.rules import TargetChoice, target_refs
from modelyard.types import Target

__all__ = ["DEFAULT_TABLE", "ProfileMatch", "ProfileRow", "ProfileSpec"]

OutputSpace = Literal["open", "constrained", "structured"]
Modality = Literal["text", "image+text", "action"]
Latency = Literal["<50ms", "<500ms", "<5s"]
Volume = Literal["<10K/day", "<1M/day", ">1M/day"]
Precision = Literal["approximate", "high", "pixel"]


class ProfileMatch(BaseModel):
    """Which profiles a row covers; an omitted key matches anything."""

    model_config = ConfigDict(extra="forbid")
    output_space: list[OutputSpace] | None = None
    modality: list[Modality] | None = None
    latency_budget: list[Latency] | None = None
    volume: list[Volume] | None = None
    precision: list[Precision] | None = None
    cost_constrained: bool | None = Field(default=None, description="hints.max_cost_usd is set")
    image_output: bool | None = Field(default=None, description="the request asks for a picture")

    @field_validator("output_space", "modality", "latency_budget", "volume", "precision", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """A single value stands for a list of one."""
        if isinstance(value, list) and not value:
            raise ValueError("must not be empty")
        return [value] if isinstance(value, str) else value


class ProfileRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    when: ProfileMatch = Field(default_factory=ProfileMatch)
    target: TargetChoice

    @field_validator("target")
    @classmethod
    def _target_non_empty(cls, value: TargetChoice) -> TargetChoice:
        if not value:
            raise ValueError("must name at least one target")
        return value


def _row(name: str, target: TargetChoice, **when: Any) -> ProfileRow:
    return ProfileRow(name=name, when=ProfileMatch(**when), target=target)


#: The decision framework's table, in order (first match wins). Six rows are the
#: framework's own; "image-generation" sends picture requests to the fast image
#: family, and the last four cover profiles the framework leaves open.
DEFAULT_TABLE: tuple[ProfileRow, ...] = (
    _row("pixel-precision", "sam", modality="image+text", precision="pixel"),
    _row("image-generation", "lcm", modality="image+text", image_output=True),
    _row("image-understanding", "vlm", modality="image+text", precision=["high", "approximate"]),
    _row("action", "lam", modality="action"),
    _row(
        "constrained-realtime-high-volume",
        ["slm", "mlm"],
        output_space="constrained",
        modality="text",
        latency_budget="<50ms",
        volume=">1M/day",
    ),
    _row(
        "open-reasoning-low-volume",
        "llm",
        output_space="open",
        modality="text",
        latency_budget="<5s",
        volume="<10K/day",
        precision="high",
    ),
    _row("scale-under-cost-cap", ["moe", "llm"], volume=["<1M/day", ">1M/day"], cost_constrained=True),
    # Beyond the framework's table: a closed set of answers needs no large model,
    # tight budgets cannot wait for one, and sheer volume is a cost constraint of its own.
    _row(
        "constrained-fast", ["slm", "mlm"], output_space=["constrained", "structured"], latency_budget="<50ms"
    ),
    _row("constrained-text", ["slm", "mlm"], output_space="constrained", modality="text"),
    _row("fast-text", ["slm", "moe", "llm"], modality="text", latency_budget=["<50ms", "<500ms"]),
    _row("high-volume", ["moe", "llm"], volume=">1M/day"),
)


class ProfileSpec(RouterSpec):
    kind: Literal["profile"] = "profile"
    table: list[ProfileRow] = Field(
        default_factory=list, description="replaces the default table when given; first match wins"
    )
    default: TargetChoice = Field(default="llm", description="when no row matches")
    volume_per_day: int | None = Field(default=None, ge=0, description="this route's daily request volume")
    tenant_volume_per_day: dict[str, int] = Field(
        default_factory=dict, description="per-tenant daily volume; wins over volume_per_day"
    )

    @field_validator("table")
    @classmethod
    def _table_non_empty(cls, value: list[ProfileRow]) -> list[ProfileRow]:
        if not value:
            raise ValueError("must not be empty (leave 'table' out to use the default table)")
        return value

    @field_validator("default")
    @classmethod
    def _default_non_empty(cls, value: TargetChoice) -> TargetChoice:
        if not value:
            raise ValueError("must name at least one target")
        return value

    @field_validator("tenant_volume_per_day")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        for tenant, n in value.items():
            if n < 0:
                raise ValueError(f"volume of tenant {tenant!r} must be ≥ 0")
        return value

    def rows(self) -> tuple[ProfileRow, ...]:
        return tuple(self.table) if self.table else DEFAULT_TABLE

    def references(self) -> list[tuple[str, Target]]:
        refs: list[tuple[str, Target]] = []
        for i, row in enumerate(self.table):
            refs.extend(target_refs(f"table[{i}].target", row.target))
        refs.extend(target_refs("default", self.default))
        return refs
