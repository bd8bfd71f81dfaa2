"""``kind: rules`` — ordered, declarative rules; the first that matches wins.

YAML::

    routers:
      triage:
        kind: rules
        rules:
          - name: pixel-mask
            when: {needs_pixel_mask: true}
            target: sam
          - name: classification
            when: {last_user_prefix: ["classify:", "sentiment:", "intent:"]}
            target: mlm
          - name: needs-consent
            when: {privacy: [third_party], consent_third_party: false}
            refuse: {message: "resend with consent", code: consent_required}
        default: [moe, llm]        # first available: moe if healthy, else llm

All conditions in one ``when`` must hold (AND); ``any:`` is a list of
conditions of which one must hold (OR); ``unless:`` is a condition that must
not hold (NOT). A target is a model, a family or a router, or a list of them
meaning "the first one that is available" (the last is taken regardless).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.types import PrivacyTier, Target

__all__ = ["Condition", "Refusal", "Rule", "RulesSpec", "TargetChoice", "target_refs"]

#: One target, or a preference list: the first available one is taken.
TargetChoice = TargetRef | list[TargetRef]

ResponseFormat = Literal["json", "json_object", "json_schema", "text", "none"]


def target_refs(key: str, choice: TargetChoice) -> list[tuple[str, Target]]:
    """The (key path, target) pairs a `TargetChoice` names, for `RouterSpec.references`."""
    if isinstance(choice, str):
        return [(key, Target.parse(choice))]
    return [(f"{key}[{i}]", Target.parse(ref)) for i, ref in enumerate(choice)]


def _non_empty(choice: TargetChoice) -> TargetChoice:
    if isinstance(choice, list) and not choice:
        raise ValueError("must name at least one target")
    if isinstance(choice, str) and not choice:
        raise ValueError("must not be empty")
    return choice


class Condition(BaseModel):
    """Predicates over a request and its hints; every key given must hold."""

    model_config = ConfigDict(extra="forbid")

    has_image: bool | None = Field(default=None, description="the request carries an image")
    wants_action: bool | None = Field(default=None, description="hints.wants_action is true")
    needs_pixel_mask: bool | None = Field(default=None, description="hints.needs_pixel_mask is true")
    generative_image: bool | None = Field(default=None, description="hints.is_generative_image is true")
    has_tools: bool | None = Field(default=None, description="tool definitions are present")
    consent_third_party: bool | None = Field(
        default=None, description="hints.consent_third_party is true (false: not given)"
    )
    privacy: list[PrivacyTier] | None = Field(default=None, description="hints.privacy is one of these tiers")
    response_format: ResponseFormat | None = Field(
        default=None, description="json = json_object or json_schema; none = no response_format"
    )
    tenant: str | list[str] | None = None
    tokens_below: int | None = Field(default=None, gt=0, description="estimated input tokens < N")
    tokens_at_least: int | None = Field(default=None, ge=0, description="estimated input tokens ≥ N")
    words_below: int | None = Field(default=None, gt=0, description="last user message has < N words")
    latency_budget_below_ms: float | None = Field(
        default=None, gt=0, description="hints.latency_budget_ms is set and < N"
    )
    last_user_matches: str | None = Field(
        default=None, description="regular expression searched in the last user message"
    )
    last_user_prefix: str | list[str] | None = Field(
        default=None, description="last user message starts with (case-insensitive, leading space ignored)"
    )
    classification_request: bool | None = Field(
        default=None,
        description="the last user message asks to classify one text: a task prefix ('sentiment: …') or "
        "natural language ('Is this review positive or negative: …'); see modelyard.types.classification",
    )
    image_quality: list[str] | None = Field(
        default=None,
        min_length=1,
        description="an image generation asks for one of these qualities (OpenAI Images API 'quality': "
        "low, medium, high, standard, hd, auto; 'unset' matches a request that names none)",
    )
    image_steps_below: int | None = Field(
        default=None, gt=0, description="an image generation asks for fewer than N sampling steps (drafts)"
    )
    custom: str | list[str] | None = Field(
        default=None, description="predicates registered from Python with register_predicate"
    )
    any: list[Condition] | None = Field(default=None, min_length=1, description="one of these holds")
    unless: Condition | None = Field(default=None, description="this must not hold")

    @field_validator("last_user_matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("privacy", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("last_user_prefix", "tenant", "custom", "privacy")
    @classmethod
    def _no_empty_list(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("must not be empty")
        return value


class Refusal(BaseModel):
    """Answer with a typed error instead of a model: the caller must change the request."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1)
    code: str = Field(default="refused", pattern=r"^[a-z][a-z0-9_]*$")
    param: str | None = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    when: Condition = Field(default_factory=Condition, description="empty: always matches")
    target: TargetChoice | None = None
    refuse: Refusal | None = None

    @field_validator("target")
    @classmethod
    def _target_non_empty(cls, value: TargetChoice | None) -> TargetChoice | None:
        return None if value is None else _non_empty(value)

    @model_validator(mode="after")
    def _target_or_refuse(self) -> Rule:
        if (self.target is None) == (self.refuse is None):
            raise ValueError("set exactly one of 'target' or 'refuse'")
        return self


class RulesSpec(RouterSpec):
    kind: Literal["rules"] = "rules"
    rules: list[Rule] = Field(min_length=1)
    default: TargetChoice = Field(description="taken when no rule matches (required)")

    @field_validator("default")
    @classmethod
    def _default_non_empty(cls, value: TargetChoice) -> TargetChoice:
        return _non_empty(value)

    def references(self) -> list[tuple[str, Target]]:
        refs: list[tuple[str, Target]] = []
        for i, rule in enumerate(self.rules):
            if rule.target is not None:
                refs.extend(target_refs(f"rules[{i}].target", rule.target))
        refs.extend(target_refs("default", self.default))
        return refs
