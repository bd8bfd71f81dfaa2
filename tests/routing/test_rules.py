"""The rules router: the reference article's router as YAML, every branch, and the predicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config import Config, load_config
from modelyard.errors import ConfigError, RequestError
from modelyard.routing.predicates import PREDICATES, register_predicate
from modelyard.types import ImagePart, ImageURL, Message, TextPart
from tests.conftest import make_config

REFERENCE = Path(__file__).resolve().parents[2] / "examples" / "reference-rules.yaml"
IMAGE = "data:image/png;base64,iVBORw0KGgo="


class BreakerOpen:
    """Availability that reports some models out of rotation, as an open breaker would."""

    def __init__(self, *models: str) -> None:
        self.down = set(models)

    def unavailable_reason(self, model: str) -> str | None:
        return "circuit breaker open" if model in self.down else None


def image_request(text: str, **hints: Any) -> ChatRequest:
    content = [TextPart(text=text), ImagePart(image_url=ImageURL(url=IMAGE))]
    return ChatRequest(model="reference", messages=[Message(role="user", content=content)], hints=hints)


def text_request(text: str, **hints: Any) -> ChatRequest:
    return ChatRequest.from_text(text, model="reference", hints=RoutingHints(**hints))


@pytest.fixture
def engine() -> Engine:
    return Engine.from_config(REFERENCE)


# -- the reference router, branch by branch ----------------------------------------------------

BRANCHES = [
    ("pixel mask", image_request("cut the dog out", needs_pixel_mask=True), "pixel-mask", "sim-sam"),
    (
        "pixel mask beats image",
        image_request("what is this?", needs_pixel_mask=True),
        "pixel-mask",
        "sim-sam",
    ),
    (
        "generative hint",
        text_request("a lighthouse at dusk", is_generative_image=True),
        "generative-image",
        "sim-lcm",
    ),
    ("draw-me prompt", text_request("Draw me a lighthouse at dusk"), "generative-image", "sim-lcm"),
    ("please draw me", text_request("  please sketch me a cat"), "generative-image", "sim-lcm"),
    ("image input", image_request("What breed is this dog?"), "image-input", "sim-vlm"),
    ("image beats action", image_request("book this hotel", wants_action=True), "image-input", "sim-vlm"),
    ("action", text_request("Book me a table for two at 8pm", wants_action=True), "action", "sim-lam"),
    ("short factual", text_request("What is the capital of France?"), "short-factual", "sim-slm"),
    (
        "classify prefix",
        text_request("classify: my parcel never arrived\nlabels: delivery, billing"),
        "classification",
        "sim-mlm",
    ),
    # issue 9: the mlm answers classification requests only; without labels a classify prefix is not one,
    # so the rule cannot be served and the router falls through to its default
    ("classify prefix without labels", text_request("classify: my parcel never arrived"), None, "sim-moe"),
    ("sentiment prefix", text_request("sentiment: I love it"), "classification", "sim-mlm"),
    ("intent prefix", text_request("intent: cancel my subscription please"), "classification", "sim-mlm"),
]


@pytest.mark.parametrize(("label", "request_", "rule", "model"), BRANCHES, ids=[b[0] for b in BRANCHES])
async def test_reference_branch(
    engine: Engine, label: str, request_: ChatRequest, rule: str | None, model: str
) -> None:
    decision = await engine.route(request_)
    assert decision.details["rule"] == rule, label
    assert decision.model == model
    assert decision.path == ["reference"]


@pytest.mark.parametrize(
    "text",
    [
        "Why is the sky blue?",  # a "why" question is not a short factual one
        "Can you explain recursion?",
        "How does TLS resumption work?",
        "Compare Rust and Go?",
        "What " + "really " * 20 + "is the capital of France?",  # 20+ words
        "Tell me about the history of Rome",  # no question mark
        "Classify this ticket: my parcel never arrived",  # prefix must open the message
    ],
)
async def test_everything_else_goes_to_moe_when_healthy(engine: Engine, text: str) -> None:
    decision = await engine.route(text_request(text))
    assert decision.details["rule"] is None
    assert decision.target.name == "moe"
    assert decision.model == "sim-moe"
    assert decision.reason == "no rule matched; default → moe"


async def test_moe_unhealthy_falls_back_to_llm() -> None:
    engine = Engine.from_config(REFERENCE, availability=BreakerOpen("sim-moe"))
    decision = await engine.route(text_request("Tell me about the history of Rome"))
    assert decision.model == "sim-llm"
    skipped = [c for c in decision.candidates if c.name == "family:moe"]
    assert len(skipped) == 1 and not skipped[0].accepted
    assert "sim-moe: circuit breaker open" in skipped[0].reason


async def test_moe_healthy_again_is_used_again() -> None:
    breaker = BreakerOpen("sim-moe")
    engine = Engine.from_config(REFERENCE, availability=breaker)
    assert (await engine.route(text_request("Tell me a story"))).model == "sim-llm"
    breaker.down.clear()
    assert (await engine.route(text_request("Tell me a story"))).model == "sim-moe"


async def test_no_moe_configured_means_llm() -> None:
    config = load_config(REFERENCE)
    models = {k: v for k, v in config.models.items() if k != "sim-moe"}
    engine = Engine(config.model_copy(update={"models": models}))
    decision = await engine.route(text_request("Tell me a story"))
    assert decision.model == "sim-llm"
    assert any("no moe model is configured" in c.reason for c in decision.candidates)


async def test_decision_explains_every_rule_checked(engine: Engine) -> None:
    decision = await engine.route(text_request("classify: my parcel never arrived\nlabels: delivery, billing"))
    rules = [c for c in decision.candidates if c.name.startswith("rule ")]
    assert [c.name for c in rules] == [
        "rule 'pixel-mask'",
        "rule 'generative-image'",
        "rule 'image-input'",
        "rule 'action'",
        "rule 'short-factual'",
        "rule 'classification'",
    ]
    assert [c.accepted for c in rules] == [False] * 5 + [True]
    assert rules[0].reason == "needs_pixel_mask: true did not hold"
    assert rules[4].reason.startswith("last_user_matches:")  # no question mark
    assert decision.details["rules_checked"] == 6
    assert decision.reason == "rule 'classification' matched → mlm"
    assert "rule 'classification'" in decision.explain()


async def test_chat_runs_the_chosen_model(engine: Engine) -> None:
    completion = await engine.chat(text_request("What is the capital of France?"))
    assert completion.model == "sim-slm"
    assert completion.response.simulated
    assert completion.text.startswith("[simulated sim-slm]")
    assert completion.trace.decision is not None and completion.trace.decision.path == ["reference"]


# -- predicates ----------------------------------------------------------------------------------

MODELS = """
models:
  a: {family: slm, provider: sim}
  b: {family: llm, provider: sim}
"""


def rules_config(rules: str, default: str = "b") -> Config:
    """Models a (slm) and b (llm) and one rules router ``r``."""
    return make_config(MODELS + f"routers:\n  r: {{kind: rules, rules: {rules}, default: {default}}}\n")


def rules_engine(when: str) -> Engine:
    return Engine(rules_config(f"[{{when: {when}, target: a}}]"))


async def routed(engine: Engine, request: ChatRequest) -> str:
    decision = await engine.route(request.model_copy(update={"model": "r"}))
    assert decision.model is not None
    return decision.model


def req(text: str = "hello", **fields: Any) -> ChatRequest:
    hints = fields.pop("hints", {})
    return ChatRequest.from_text(text, hints=RoutingHints(**hints), **fields)


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

PREDICATE_CASES = [
    ("{has_tools: true}", req(tools=[TOOL]), req()),
    ("{has_tools: false}", req(), req(tools=[TOOL])),
    ("{response_format: json}", req(response_format={"type": "json_object"}),
     req(response_format={"type": "text"})),
    ("{response_format: json_schema}", req(response_format={"type": "json_schema", "json_schema": {}}),
     req(response_format={"type": "json_object"})),
    ("{response_format: none}", req(), req(response_format={"type": "json_object"})),
    ("{tenant: [acme, globex]}", req(hints={"tenant": "globex"}), req(hints={"tenant": "initech"})),
    ("{privacy: [device, private]}", req(hints={"privacy": "private"}),
     req(hints={"privacy": "third_party"})),
    ("{privacy: device}", req(hints={"privacy": "device"}), req()),
    ("{consent_third_party: true}", req(hints={"consent_third_party": True}), req()),
    ("{consent_third_party: false}", req(), req(hints={"consent_third_party": True})),
    ("{latency_budget_below_ms: 100}", req(hints={"latency_budget_ms": 50}),
     req(hints={"latency_budget_ms": 100})),
    ("{tokens_below: 20}", req("short"), req("x" * 400)),
    ("{tokens_at_least: 100}", req("x" * 400), req("short")),
    ("{words_below: 3}", req("two words"), req("now three words")),
    ("{last_user_prefix: 'summarize:'}", req("  Summarize: the text"), req("please summarize: the text")),
    ("{last_user_matches: '^\\d+$'}", req("12345"), req("12a45")),
    ("{wants_action: false}", req(), req(hints={"wants_action": True})),
    ("{any: [{tenant: acme}, {has_tools: true}]}", req(tools=[TOOL]), req(hints={"tenant": "other"})),
    ("{tenant: acme, unless: {has_tools: true}}", req(hints={"tenant": "acme"}),
     req(hints={"tenant": "acme"}, tools=[TOOL])),
    ("{}", req(), None),
]  # fmt: skip


@pytest.mark.parametrize(("when", "matching", "other"), PREDICATE_CASES, ids=[c[0] for c in PREDICATE_CASES])
async def test_predicate(when: str, matching: ChatRequest, other: ChatRequest | None) -> None:
    engine = rules_engine(when)
    assert await routed(engine, matching) == "a"
    if other is not None:
        assert await routed(engine, other) == "b"


async def test_all_conditions_of_one_when_must_hold() -> None:
    engine = rules_engine("{tenant: acme, has_tools: true}")
    assert await routed(engine, req(hints={"tenant": "acme"}, tools=[TOOL])) == "a"
    assert await routed(engine, req(hints={"tenant": "acme"})) == "b"
    assert await routed(engine, req(tools=[TOOL])) == "b"


@pytest.fixture
def vip() -> Iterator[None]:
    register_predicate("vip", lambda request: request.hints.user_id in {"u1", "u2"})
    yield
    PREDICATES.unregister("vip")


async def test_custom_predicate_from_python(vip: None) -> None:
    engine = rules_engine("{custom: vip}")
    assert await routed(engine, req(hints={"user_id": "u2"})) == "a"
    assert await routed(engine, req(hints={"user_id": "u9"})) == "b"


def test_registering_twice_needs_replace(vip: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_predicate("vip", lambda request: True)
    register_predicate("vip", lambda request: True, replace=True)


def test_unknown_custom_predicate_fails_engine_construction_with_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        rules_engine("{any: [{tenant: x}, {custom: nobody-registered-this}]}")
    message = str(info.value)
    assert message.startswith("test.yaml: routers.r.rules[0].when.any[1].custom: no custom predicate named")
    assert "'nobody-registered-this'" in message


def test_invalid_regex_is_rejected_at_load() -> None:
    with pytest.raises(ConfigError) as info:
        rules_config("[{when: {last_user_matches: '(unclosed'}, target: a}]")
    assert str(info.value).startswith(
        "test.yaml: routers.r.rules[0].when.last_user_matches: invalid regular expression"
    )


def test_unknown_condition_key_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError) as info:
        rules_config("[{when: {has_imag: true}, target: a}]")
    assert str(info.value).startswith(
        "test.yaml: routers.r.rules[0].when.has_imag: unknown key; did you mean 'has_image'?"
    )


def test_default_is_required() -> None:
    with pytest.raises(ConfigError) as info:
        make_config(MODELS + "routers:\n  r: {kind: rules, rules: [{when: {}, target: a}]}\n")
    assert str(info.value) == "test.yaml: routers.r.default: required key is missing"


def test_rule_needs_exactly_one_of_target_or_refuse() -> None:
    with pytest.raises(ConfigError) as info:
        rules_config("[{when: {}}]")
    assert str(info.value) == "test.yaml: routers.r.rules[0]: set exactly one of 'target' or 'refuse'"


def test_every_named_target_is_checked_with_its_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        rules_config("[{when: {}, target: a}, {when: {}, target: [moe, nope]}]")
    assert str(info.value) == (
        "test.yaml: routers.r.rules[1].target[1]: "
        "'nope' is not a model, router or family defined in this file"
    )
    with pytest.raises(ConfigError) as info:
        rules_config("[{when: {}, target: a}]", default="[a, family:gpu]")
    assert str(info.value) == "test.yaml: routers.r.default[1]: unknown family 'gpu'"


# -- refusals and targets -----------------------------------------------------------------------

REFUSING = (
    MODELS
    + """
routers:
  r:
    kind: rules
    rules:
      - name: needs-consent
        when: {privacy: third_party, consent_third_party: false}
        refuse: {message: "consent is required to send this to a third party", code: consent_required,
                 param: hints.consent_third_party}
    default: b
"""
)


async def test_refusal_is_a_typed_request_error_recorded_on_the_trace() -> None:
    engine = Engine(make_config(REFUSING))
    request = req(model="r", hints={"privacy": "third_party"})
    trace = engine.new_trace(request)
    with pytest.raises(RequestError) as info:
        await engine.chat(request, trace=trace)
    assert info.value.code == "consent_required"
    assert info.value.param == "hints.consent_third_party"
    assert info.value.status_code == 400
    assert str(info.value) == "consent is required to send this to a third party"
    assert [e.kind for e in trace.events] == ["refused"]
    assert trace.status == "error" and trace.attempts == []
    consented = req(model="r", hints={"privacy": "third_party", "consent_third_party": True})
    assert (await engine.chat(consented)).model == "b"


async def test_targets_may_be_models_families_or_routers() -> None:
    engine = Engine(
        make_config(
            MODELS
            + """
routers:
  leaf: {kind: fixed, target: b}
  r:
    kind: rules
    rules:
      - {when: {tenant: m}, target: a}
      - {when: {tenant: f}, target: family:llm}
      - {when: {tenant: r}, target: leaf}
    default: router:leaf
"""
        )
    )
    for tenant, model, path in [
        ("m", "a", ["r"]),
        ("f", "b", ["r"]),
        ("r", "b", ["r", "leaf"]),
        ("x", "b", ["r", "leaf"]),
    ]:
        decision = await engine.route(req(model="r", hints={"tenant": tenant}))
        assert (decision.model, decision.path) == (model, path), tenant


async def test_target_list_skips_a_model_that_cannot_serve_the_request() -> None:
    engine = Engine(
        make_config("""
models:
  tiny: {family: slm, provider: sim, context_window: 64}
  big: {family: llm, provider: sim}
routers:
  r: {kind: rules, rules: [{when: {}, target: [tiny, big]}], default: big}
""")
    )
    assert (await engine.route(req("short", model="r"))).model == "tiny"
    decision = await engine.route(req("long " * 200, model="r"))
    assert decision.model == "big"
    assert any(c.name == "model:tiny" and "context window is 64" in c.reason for c in decision.candidates)
