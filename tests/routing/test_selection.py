"""Family → model selection: strategies, every rejection reason, and the error that lists them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config import ModelSpec
from modelyard.errors import NoModelFitsError
from modelyard.registry import Registry
from modelyard.types import Family, ImagePart, ImageURL, Message, TextPart, Usage
from tests.conftest import make_config


def spec(name: str, family: str = "llm", **fields: Any) -> ModelSpec:
    return ModelSpec.model_validate({"name": name, "family": family, "provider": "sim", **fields})


def registry(*specs: ModelSpec, seed: int | None = 0) -> Registry:
    return Registry({s.name: s for s in specs}, seed=seed)


def req(text: str = "hello there", **fields: Any) -> ChatRequest:
    hints = RoutingHints(**fields.pop("hints", {}))
    if fields.pop("image", False):
        content = [TextPart(text=text), ImagePart(image_url=ImageURL(url="data:image/png;base64,AAAA"))]
        return ChatRequest(messages=[Message(role="user", content=content)], hints=hints, **fields)
    return ChatRequest.from_text(text, hints=hints, **fields)


class Down:
    def __init__(self, **reasons: str) -> None:
        self.reasons = reasons

    def unavailable_reason(self, model: str) -> str | None:
        return self.reasons.get(model)


# -- strategies ----------------------------------------------------------------------------------

CHEAP = spec("cheap", price={"input": 0.1, "output": 0.4}, latency_p50_ms=900)
FAST = spec("fast", price={"input": 1.0, "output": 4.0}, latency_p50_ms=120)
PRICEY = spec("pricey", price={"input": 10.0, "output": 30.0}, latency_p50_ms=500)


def test_cheapest_takes_the_lowest_estimated_cost() -> None:
    selection = registry(PRICEY, FAST, CHEAP).select(Family.LLM, req())
    assert selection.model.name == "cheap"
    assert selection.strategy == "cheapest"
    accepted = [c for c in selection.candidates if c.accepted]
    assert [c.name for c in accepted] == ["cheap"]
    assert accepted[0].reason.startswith("cheapest fitting llm model")
    others = {c.name: c for c in selection.candidates if not c.accepted}
    assert set(others) == {"fast", "pricey"}
    assert all(c.reason.startswith("fits, but not the cheapest") for c in others.values())
    assert others["pricey"].score is not None and accepted[0].score is not None
    assert others["pricey"].score > others["fast"].score > accepted[0].score  # type: ignore[operator]


def test_cheapest_ties_break_on_latency_then_name() -> None:
    a = spec("b-slow", latency_p50_ms=800)
    b = spec("a-slow", latency_p50_ms=800)
    c = spec("c-quick", latency_p50_ms=100)
    assert registry(a, b, c).select(Family.LLM, req()).model.name == "c-quick"
    assert registry(a, b).select(Family.LLM, req()).model.name == "a-slow"


def test_fastest_takes_the_lowest_p50() -> None:
    assert registry(PRICEY, FAST, CHEAP).select(Family.LLM, req(), strategy="fastest").model.name == "fast"


def test_cost_estimate_uses_the_requested_output_length() -> None:
    # cheap input, expensive output vs the opposite: the answer length decides which is cheaper
    reader = spec("reader", price={"input": 0.1, "output": 50.0})
    writer = spec("writer", price={"input": 5.0, "output": 0.1})
    r = registry(reader, writer)
    long_prompt = "x" * 4000  # ~1,000 input tokens
    assert r.select(Family.LLM, req(long_prompt, max_tokens=1)).model.name == "reader"
    assert r.select(Family.LLM, req(long_prompt, max_tokens=2000)).model.name == "writer"
    request = req("x" * 400, max_tokens=100)
    expected = reader.price.cost(Usage(input_tokens=request.estimate_input_tokens(), output_tokens=100))
    assert r.estimate_cost(reader, request) == pytest.approx(expected)


def test_weighted_draws_in_proportion_to_weight() -> None:
    heavy = spec("heavy", weight=3.0)
    light = spec("light", weight=1.0)
    never = spec("never", weight=0.0)
    r = registry(heavy, light, never, seed=1234)
    counts = Counter(r.select(Family.LLM, req(), strategy="weighted").model.name for _ in range(4000))
    assert counts["never"] == 0
    assert 0.70 < counts["heavy"] / 4000 < 0.80


def test_weighted_is_reproducible_with_a_seed() -> None:
    def draws(seed: int) -> list[str]:
        r = registry(spec("x", weight=1), spec("y", weight=1), spec("z", weight=1), seed=seed)
        return [r.select(Family.LLM, req(), strategy="weighted").model.name for _ in range(50)]

    assert draws(7) == draws(7)
    assert len(set(draws(7))) == 3


def test_weighted_with_all_zero_weights_takes_the_first_fitting() -> None:
    r = registry(spec("first", weight=0), spec("second", weight=0))
    assert r.select(Family.LLM, req(), strategy="weighted").model.name == "first"


def test_only_the_requested_family_is_considered() -> None:
    r = registry(spec("small", family="slm", price={"input": 0.0}), PRICEY)
    assert r.select(Family.LLM, req()).model.name == "pricey"
    assert r.select(Family.SLM, req()).model.name == "small"


# -- rejections ----------------------------------------------------------------------------------

REJECTIONS = [
    ("disabled", spec("m", enabled=False), req(), None, "disabled in config"),
    ("breaker", spec("m"), req(), Down(m="circuit breaker open"), "circuit breaker open"),
    ("image input", spec("m"), req(image=True), None, "does not accept image input"),
    ("context", spec("m", context_window=50), req("word " * 400), None, "needs ~"),
    ("context with output", spec("m", context_window=100), req("hi", max_tokens=500), None,
     "context window is 100"),
    ("privacy", spec("m", privacy="third_party"), req(hints={"privacy": "private"}), None,
     "privacy tier third_party exceeds required private"),
    ("consent", spec("m", privacy="third_party"), req(hints={"consent_third_party": False}), None,
     "third-party model and the user did not consent"),
    ("latency", spec("m", latency_p50_ms=800), req(hints={"latency_budget_ms": 200}), None,
     "p50 800 ms exceeds budget 200 ms"),
    ("cost", spec("m", price={"input": 100, "output": 100}), req(hints={"max_cost_usd": 0.0001}), None,
     "exceeds max_cost $0.000100"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "model", "request_", "availability", "reason"), REJECTIONS, ids=[r[0] for r in REJECTIONS]
)
def test_each_rejection_reason(
    label: str, model: ModelSpec, request_: ChatRequest, availability: Any, reason: str
) -> None:
    r = registry(model)
    why = r.rejection(model, request_, availability)
    assert why is not None and reason in why, label
    with pytest.raises(NoModelFitsError) as info:
        r.select(Family.LLM, request_, availability=availability)
    assert info.value.family == "llm"
    assert reason in info.value.rejected["m"]
    assert reason in str(info.value)


def test_a_fitting_model_is_not_rejected() -> None:
    ok = spec("ok", privacy="private", latency_p50_ms=100, modalities={"input": ["text", "image"]})
    request = req(
        image=True, hints={"privacy": "private", "latency_budget_ms": 200, "consent_third_party": False}
    )
    assert registry(ok).rejection(ok, request) is None


def test_private_requirement_accepts_device_and_private_models() -> None:
    request = req(hints={"privacy": "private"})
    device, private = spec("device", privacy="device"), spec("private", privacy="private")
    r = registry(device, private, spec("cloud", privacy="third_party", price={"input": 0, "output": 0}))
    assert {
        c.name for c in r.select(Family.LLM, request).candidates if c.reason.startswith(("cheapest", "fits"))
    } == {
        "device",
        "private",
    }


def test_no_model_fits_lists_every_rejected_model() -> None:
    r = registry(
        spec("off", enabled=False),
        spec("slow", latency_p50_ms=5000),
        spec("down"),
    )
    with pytest.raises(NoModelFitsError) as info:
        r.select(Family.LLM, req(hints={"latency_budget_ms": 1000}), availability=Down(down="rate limited"))
    err = info.value
    assert err.rejected == {
        "off": "disabled in config",
        "slow": "p50 5000 ms exceeds budget 1000 ms",
        "down": "rate limited",
    }
    assert str(err) == (
        "no model of family 'llm' fits the request (off: disabled in config; "
        "slow: p50 5000 ms exceeds budget 1000 ms; down: rate limited)"
    )
    assert err.status_code == 503


def test_family_with_no_models_says_so() -> None:
    with pytest.raises(NoModelFitsError) as info:
        registry(spec("m")).select(Family.SAM, req())
    assert str(info.value) == "no model of family 'sam' fits the request (no models of this family)"


def test_rejected_and_fitting_models_both_appear_as_candidates() -> None:
    r = registry(spec("off", enabled=False), CHEAP, FAST)
    names = {(c.name, c.accepted) for c in r.select(Family.LLM, req()).candidates}
    assert names == {("off", False), ("cheap", True), ("fast", False)}


async def test_engine_uses_the_configured_strategy() -> None:
    body = """
models:
  cheap: {family: llm, provider: sim, price: {input: 0.1, output: 0.1}, latency_p50_ms: 900}
  fast: {family: llm, provider: sim, price: {input: 5, output: 5}, latency_p50_ms: 100}
"""
    assert (await Engine(make_config(body)).route(req(model="llm"))).model == "cheap"
    decision = await Engine(make_config(body + "selection: fastest\n")).route(req(model="llm"))
    assert decision.model == "fast"
    assert any(
        c.name == "fast" and c.reason.startswith("fastest fitting llm model") for c in decision.candidates
    )
