"""Hybrids: routers whose targets are other routers; cycles and dangling references at load."""

from __future__ import annotations

import pytest

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config.routers import ROUTER_SPECS
from modelyard.config.routers.profile import ProfileSpec
from modelyard.config.routers.rules import RulesSpec
from modelyard.errors import ConfigError
from modelyard.types import Target
from tests.conftest import make_config

MODELS = """
models:
  sim-slm: {family: slm, provider: sim, latency_p50_ms: 20}
  sim-mlm: {family: mlm, provider: sim, latency_p50_ms: 5}
  sim-llm: {family: llm, provider: sim, latency_p50_ms: 1500}
  sim-moe: {family: moe, provider: sim, latency_p50_ms: 400}
  sim-lam: {family: lam, provider: sim, latency_p50_ms: 2000}
"""

CHAIN = (
    MODELS
    + """
routers:
  front:
    kind: rules
    rules:
      - {name: tenant-pinned, when: {tenant: pinned}, target: router:pinned}
      - {name: everything-else, when: {}, target: by-profile}
    default: llm
  by-profile:
    kind: profile
    table:
      - {name: action, when: {modality: action}, target: lam}
      - {name: classification, when: {output_space: constrained}, target: router:labels}
    default: llm
  labels:
    kind: rules
    rules:
      - {name: urgent, when: {latency_budget_below_ms: 100}, target: slm}
    default: [mlm, slm]
  pinned:
    kind: fixed
    target: sim-moe
"""
)


def req(text: str, **hints: object) -> ChatRequest:
    return ChatRequest.from_text(text, model="front", hints=RoutingHints(**hints))  # type: ignore[arg-type]


@pytest.fixture
def engine() -> Engine:
    return Engine(make_config(CHAIN))


async def test_rules_to_profile_to_rules_to_family(engine: Engine) -> None:
    decision = await engine.route(req("classify: parcel arrived broken", latency_budget_ms=80))
    assert decision.path == ["front", "by-profile", "labels"]
    assert decision.model == "sim-slm"
    assert decision.reason == (
        "rule 'everything-else' matched → by-profile → profile matched row 'classification' → labels "
        "→ rule 'urgent' matched → slm"
    )
    # the profile computed in the middle hop survives to the final decision
    assert decision.profile is not None and decision.profile.output_space == "constrained"
    names = [c.name for c in decision.candidates if c.accepted]
    assert names[:3] == ["rule 'everything-else'", "row 'classification'", "rule 'urgent'"]


async def test_same_chain_ends_on_a_different_family_per_request(engine: Engine) -> None:
    relaxed = await engine.route(req("sentiment: parcel arrived broken"))
    assert (relaxed.path, relaxed.model) == (["front", "by-profile", "labels"], "sim-mlm")
    action = await engine.route(req("Book a table for two", wants_action=True))
    assert (action.path, action.model) == (["front", "by-profile"], "sim-lam")
    open_text = await engine.route(req("Write a sonnet about routers"))
    assert (open_text.path, open_text.model) == (["front", "by-profile"], "sim-llm")


async def test_router_to_fixed_router_to_model(engine: Engine) -> None:
    decision = await engine.route(req("anything", tenant="pinned"))
    assert decision.path == ["front", "pinned"]
    assert decision.model == "sim-moe"
    assert decision.target == Target(kind="model", name="sim-moe")


async def test_chat_through_the_chain_answers_from_the_chosen_model(engine: Engine) -> None:
    completion = await engine.chat(req("sentiment: fine", latency_budget_ms=80))
    assert completion.model == "sim-slm"
    assert completion.decision.path == ["front", "by-profile", "labels"]
    assert completion.trace.answered_by == "sim-slm"


def test_every_spec_kind_here_reports_its_references() -> None:
    config = make_config(CHAIN)
    front = config.routers["front"]
    assert isinstance(front, RulesSpec)
    assert front.references() == [
        ("rules[0].target", Target(kind="router", name="pinned")),
        ("rules[1].target", Target(kind="model", name="by-profile")),  # a bare name; the loader resolves it
        ("default", Target(kind="family", name="llm")),
    ]
    profile = config.routers["by-profile"]
    assert isinstance(profile, ProfileSpec)
    assert profile.references() == [
        ("table[0].target", Target(kind="family", name="lam")),
        ("table[1].target", Target(kind="router", name="labels")),
        ("default", Target(kind="family", name="llm")),
    ]
    labels = config.routers["labels"]
    assert labels.references()[-2:] == [
        ("default[0]", Target(kind="family", name="mlm")),
        ("default[1]", Target(kind="family", name="slm")),
    ]
    assert {"rules", "profile"} <= set(ROUTER_SPECS)


# -- rejected at load ----------------------------------------------------------------------------

CYCLES = [
    (
        "self through a rule",
        "  a: {kind: rules, rules: [{when: {}, target: router:a}], default: llm}\n",
        "test.yaml: routers.a: router cycle: a → a",
    ),
    (
        "two rules routers via a bare name in a target list",
        "  a: {kind: rules, rules: [{when: {tenant: x}, target: [moe, b]}], default: llm}\n"
        "  b: {kind: rules, rules: [{when: {}, target: slm}], default: a}\n",
        "test.yaml: routers.a: router cycle: a → b → a",
    ),
    (
        "three hops through a profile table",
        "  a: {kind: rules, rules: [{when: {}, target: b}], default: llm}\n"
        "  b: {kind: profile, table: [{when: {modality: text}, target: c}], default: llm}\n"
        "  c: {kind: fixed, target: router:a}\n",
        "test.yaml: routers.a: router cycle: a → b → c → a",
    ),
    (
        "profile default back to its caller",
        "  a: {kind: rules, rules: [{when: {}, target: slm}], default: b}\n"
        "  b: {kind: profile, default: [slm, a]}\n",
        "test.yaml: routers.a: router cycle: a → b → a",
    ),
]


@pytest.mark.parametrize(("label", "routers", "message"), CYCLES, ids=[c[0] for c in CYCLES])
def test_cycles_are_rejected_with_their_path(label: str, routers: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(MODELS + "routers:\n" + routers)
    assert str(info.value) == message, label


DANGLING = [
    (
        "router in a rule target",
        "  a: {kind: rules, rules: [{when: {}, target: router:ghost}], default: llm}\n",
        "test.yaml: routers.a.rules[0].target: no router named 'ghost'",
    ),
    (
        "bare name in a target list",
        "  a: {kind: rules, rules: [{when: {}, target: [slm, ghost]}], default: llm}\n",
        "test.yaml: routers.a.rules[0].target[1]: 'ghost' is not a model, router or family defined in "
        "this file",
    ),
    (
        "model in a rules default",
        "  a: {kind: rules, rules: [{when: {}, target: slm}], default: model:ghost}\n",
        "test.yaml: routers.a.default: 'ghost' is not a model, router or family defined in this file",
    ),
    (
        "family in a profile table",
        "  a: {kind: profile, table: [{when: {}, target: family:xlm}]}\n",
        "test.yaml: routers.a.table[0].target: unknown family 'xlm'",
    ),
    (
        "router in a profile default list",
        "  a: {kind: profile, default: [moe, router:ghost]}\n",
        "test.yaml: routers.a.default[1]: no router named 'ghost'",
    ),
]


@pytest.mark.parametrize(("label", "routers", "message"), DANGLING, ids=[d[0] for d in DANGLING])
def test_dangling_references_are_rejected_with_their_key_path(label: str, routers: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(MODELS + "routers:\n" + routers)
    assert str(info.value) == message, label


def test_a_deep_acyclic_chain_is_fine() -> None:
    routers = "".join(
        f"  r{i}: {{kind: rules, rules: [{{when: {{}}, target: r{i + 1}}}], default: llm}}\n"
        for i in range(10)
    )
    routers += "  r10: {kind: fixed, target: slm}\n"
    config = make_config(MODELS + "routers:\n" + routers)
    assert len(config.routers) == 11
