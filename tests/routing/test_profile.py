"""Task profile derivation and the profile router's table."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config.routers.profile import DEFAULT_TABLE
from modelyard.errors import ConfigError
from modelyard.profile import derive_profile, latency_class, volume_class
from modelyard.types import ImagePart, ImageURL, Message, TaskProfile, TextPart
from tests.conftest import make_config

IMAGE = "data:image/png;base64,iVBORw0KGgo="
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def req(text: str = "Write a short story about a lighthouse keeper", **fields: Any) -> ChatRequest:
    hints = RoutingHints(**fields.pop("hints", {}))
    if fields.pop("image", False):
        content = [TextPart(text=text), ImagePart(image_url=ImageURL(url=IMAGE))]
        return ChatRequest(messages=[Message(role="user", content=content)], hints=hints, **fields)
    return ChatRequest.from_text(text, hints=hints, **fields)


# -- derive_profile ------------------------------------------------------------------------------


def test_plain_question_is_open_text_relaxed_low_volume_high_precision() -> None:
    assert derive_profile(req()) == TaskProfile(
        output_space="open", modality="text", latency_budget="<5s", volume="<10K/day", precision="high"
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (req(response_format={"type": "json_object"}), "structured"),
        (req(response_format={"type": "json_schema", "json_schema": {"name": "x"}}), "structured"),
        (req(tools=[TOOL]), "structured"),
        (req(response_format={"type": "text"}), "open"),
        (req("classify: the parcel never came"), "constrained"),
        (req("  Sentiment: loved it"), "constrained"),
        (req("intent: cancel"), "constrained"),
        (req("Is this spam?", max_tokens=4), "constrained"),
        (req("Is this spam?", max_tokens=200), "open"),
    ],
)
def test_output_space(request_: ChatRequest, expected: str) -> None:
    assert derive_profile(request_).output_space == expected


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (req(image=True), "image+text"),
        (req("cut the cat out", hints={"needs_pixel_mask": True}), "image+text"),
        (req("a lighthouse", hints={"is_generative_image": True}), "image+text"),
        (req("Draw me a lighthouse at dusk"), "image+text"),
        (req("Generate an image of a red fox"), "image+text"),
        (req("summarise this", hints={"wants_action": True}), "action"),
        (req("Book a table for two at 8pm"), "action"),
        (req("please submit the form for me"), "action"),
        (req("Book a table for two", hints={"wants_action": False}), "text"),  # a hint beats the verb
        (req("Booking systems: how do they work?"), "text"),
        (req("What's a good name for a cat?"), "text"),
    ],
)
def test_modality(request_: ChatRequest, expected: str) -> None:
    assert derive_profile(request_).modality == expected


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (None, "<5s"),
        (10, "<50ms"),
        (50, "<50ms"),
        (51, "<500ms"),
        (500, "<500ms"),
        (501, "<5s"),
        (60_000, "<5s"),
    ],
)
def test_latency_class(budget: float | None, expected: str) -> None:
    assert latency_class(budget) == expected
    hints = {"latency_budget_ms": budget} if budget is not None else {}
    assert derive_profile(req(hints=hints)).latency_budget == expected


@pytest.mark.parametrize(
    ("per_day", "expected"),
    [
        (None, "<10K/day"),
        (0, "<10K/day"),
        (9_999, "<10K/day"),
        (10_000, "<1M/day"),
        (999_999, "<1M/day"),
        (1_000_000, ">1M/day"),
    ],
)
def test_volume_class(per_day: int | None, expected: str) -> None:
    assert volume_class(per_day) == expected
    assert derive_profile(req(), volume_per_day=per_day).volume == expected


def test_volume_hint_beats_configured_volume() -> None:
    assert derive_profile(req(hints={"volume_per_day": 5}), volume_per_day=5_000_000).volume == "<10K/day"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (req("segment every apple", image=True), "pixel"),
        (req("cut this out please", image=True), "pixel"),
        (req("segment the market for me"), "high"),  # no image: not a segmentation task
        (req("x", hints={"needs_pixel_mask": True}), "pixel"),
        (req("Give me a ballpark figure for the cost"), "approximate"),
        (req("segment every apple", image=True, hints={"precision": "high"}), "high"),  # hint wins
        (req("What is 17 * 23?"), "high"),
    ],
)
def test_precision(request_: ChatRequest, expected: str) -> None:
    assert derive_profile(request_).precision == expected


# -- the profile router -------------------------------------------------------------------------

ONE_PER_FAMILY = """
models:
  sim-slm: {family: slm, provider: sim, latency_p50_ms: 20}
  sim-mlm: {family: mlm, provider: sim, latency_p50_ms: 5}
  sim-llm: {family: llm, provider: sim, latency_p50_ms: 1500}
  sim-moe: {family: moe, provider: sim, latency_p50_ms: 400}
  sim-vlm: {family: vlm, provider: sim, modalities: {input: [text, image]}, latency_p50_ms: 900}
  sim-lam: {family: lam, provider: sim, latency_p50_ms: 2000}
  sim-sam: {family: sam, provider: sim, modalities: {input: [text, image]}, latency_p50_ms: 100}
  sim-lcm: {family: lcm, provider: sim, latency_p50_ms: 300}
"""


def profile_engine(body: str = "", **kw: Any) -> Engine:
    return Engine(make_config(ONE_PER_FAMILY + "routers:\n  p:\n    kind: profile\n" + body), **kw)


class Down:
    def __init__(self, *models: str) -> None:
        self.down = set(models)

    def unavailable_reason(self, model: str) -> str | None:
        return "circuit breaker open" if model in self.down else None


TABLE_CASES = [
    ("open text, relaxed, low volume, high precision → llm", req(), "open-reasoning-low-volume", "sim-llm"),
    (
        "constrained text, <50ms, >1M/day → slm",
        req("classify: parcel late", hints={"latency_budget_ms": 40, "volume_per_day": 3_000_000}),
        "constrained-realtime-high-volume",
        "sim-slm",
    ),
    (
        "image + text, high precision → vlm",
        req("What is in this photo?", image=True),
        "image-understanding",
        "sim-vlm",
    ),
    ("action → lam", req("Renew my passport appointment"), "action", "sim-lam"),
    ("image + pixel precision → sam", req("segment each apple", image=True), "pixel-precision", "sim-sam"),
    (
        "scale + cost cap → moe",
        req(hints={"volume_per_day": 200_000, "max_cost_usd": 0.01}),
        "scale-under-cost-cap",
        "sim-moe",
    ),
    ("draw me → lcm", req("Draw me a fox in the snow"), "image-generation", "sim-lcm"),
    ("sheer volume → moe", req(hints={"volume_per_day": 2_000_000}), "high-volume", "sim-moe"),
    (
        "structured, <50ms → slm",
        req(response_format={"type": "json_object"}, hints={"latency_budget_ms": 45}),
        "constrained-fast",
        "sim-slm",
    ),
    ("open text, <500ms → slm", req(hints={"latency_budget_ms": 300}), "fast-text", "sim-slm"),
]


@pytest.mark.parametrize(("label", "request_", "row", "model"), TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
async def test_default_table_row(label: str, request_: ChatRequest, row: str, model: str) -> None:
    decision = await profile_engine().route(request_.model_copy(update={"model": "p"}))
    assert decision.details["row"] == row, label
    assert decision.model == model
    assert decision.profile == derive_profile(request_)


def test_default_table_is_the_frameworks_table_in_order() -> None:
    rows = [(r.name, r.target, r.when.model_dump(exclude_none=True)) for r in DEFAULT_TABLE[:7]]
    assert rows == [
        ("pixel-precision", "sam", {"modality": ["image+text"], "precision": ["pixel"]}),
        ("image-generation", "lcm", {"modality": ["image+text"], "image_output": True}),
        ("image-understanding", "vlm", {"modality": ["image+text"], "precision": ["high", "approximate"]}),
        ("action", "lam", {"modality": ["action"]}),
        (
            "constrained-realtime-high-volume",
            ["slm", "mlm"],
            {
                "output_space": ["constrained"],
                "modality": ["text"],
                "latency_budget": ["<50ms"],
                "volume": [">1M/day"],
            },
        ),
        (
            "open-reasoning-low-volume",
            "llm",
            {
                "output_space": ["open"],
                "modality": ["text"],
                "latency_budget": ["<5s"],
                "volume": ["<10K/day"],
                "precision": ["high"],
            },
        ),
        (
            "scale-under-cost-cap",
            ["moe", "llm"],
            {"volume": ["<1M/day", ">1M/day"], "cost_constrained": True},
        ),
    ]


async def test_slm_or_mlm_row_takes_mlm_when_no_slm_is_available() -> None:
    engine = profile_engine(availability=Down("sim-slm"))
    request = req("sentiment: late", model="p", hints={"latency_budget_ms": 40, "volume_per_day": 3_000_000})
    decision = await engine.route(request)
    assert decision.model == "sim-mlm"
    assert any(c.name == "family:slm" and "circuit breaker open" in c.reason for c in decision.candidates)


async def test_nothing_matches_goes_to_default() -> None:
    # approximate open text at low volume, relaxed budget: no default row covers it
    request = req("Give me a rough idea of the plot", model="p")
    decision = await profile_engine().route(request)
    assert decision.details["row"] is None
    assert decision.model == "sim-llm"
    assert decision.reason == "no profile row matched; default → llm"


async def test_route_and_tenant_volume_from_config() -> None:
    engine = profile_engine("    volume_per_day: 2000000\n    tenant_volume_per_day: {small-co: 100}\n")
    assert (await engine.route(req(model="p"))).profile.volume == ">1M/day"  # type: ignore[union-attr]
    small = await engine.route(req(model="p", hints={"tenant": "small-co"}))
    assert small.profile is not None and small.profile.volume == "<10K/day"
    assert small.model == "sim-llm"
    hinted = await engine.route(req(model="p", hints={"tenant": "small-co", "volume_per_day": 50_000}))
    assert hinted.profile is not None and hinted.profile.volume == "<1M/day"


async def test_table_and_default_are_overridable_in_yaml() -> None:
    engine = profile_engine(
        "    table:\n"
        "      - {name: fast, when: {latency_budget: ['<50ms', '<500ms']}, target: sim-moe}\n"
        "      - {name: images, when: {modality: image+text}, target: [vlm, llm]}\n"
        "    default: slm\n"
    )
    assert (await engine.route(req(model="p", hints={"latency_budget_ms": 100}))).details["row"] == "fast"
    assert (await engine.route(req(model="p", image=True))).model == "sim-vlm"
    fallback = await engine.route(req(model="p"))
    assert (fallback.details["row"], fallback.model) == (None, "sim-slm")


async def test_explain_prints_the_profile_and_rows() -> None:
    decision = await profile_engine().route(req("classify: late", model="p"))
    text = decision.explain()
    assert "profile:    output=constrained modality=text latency=<5s volume=<10K/day precision=high" in text
    assert "✗ row 'pixel-precision': modality is text" in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    table: [{when: {modality: video}, target: vlm}]\n",
            "test.yaml: routers.p.table[0].when.modality[0]: must be one of 'text', 'image+text' or 'action'",
        ),
        (
            "    table: [{when: {volume: '>10M/day'}, target: llm}]\n",
            "test.yaml: routers.p.table[0].when.volume[0]: must be one of",
        ),
        (
            "    table: [{when: {modalty: text}, target: llm}]\n",
            "test.yaml: routers.p.table[0].when.modalty: unknown key; did you mean 'modality'?",
        ),
        (
            "    table: [{when: {}, target: ghost}]\n",
            "test.yaml: routers.p.table[0].target: 'ghost' is not a model",
        ),
        ("    default: [slm, ghost]\n", "test.yaml: routers.p.default[1]: 'ghost' is not a model"),
        ("    table: []\n", "test.yaml: routers.p.table: must not be empty (leave 'table' out"),
        (
            "    tenant_volume_per_day: {acme: -1}\n",
            "test.yaml: routers.p.tenant_volume_per_day: volume of tenant 'acme' must be ≥ 0",
        ),
    ],
)
def test_bad_profile_config_names_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(ONE_PER_FAMILY + "routers:\n  p:\n    kind: profile\n" + body)
    assert str(info.value).startswith(message)
