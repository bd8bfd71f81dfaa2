from __future__ import annotations

import pytest

from modelyard import ChatRequest, EmbeddingRequest, Engine
from modelyard.config import Config
from modelyard.errors import NoModelFitsError, UnknownModelError
from modelyard.types import Message, RoutingHints


async def test_chat_through_fixed_router_lands_on_cheapest_family_model(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        done = await engine.chat(ChatRequest.from_text("hello there"))
    assert done.model == "small"
    assert done.decision.path == ["default"]
    assert done.decision.family is not None and done.decision.family.value == "slm"
    assert done.response.simulated is True
    assert done.text == "[simulated small] echo: hello there"
    usage = done.response.usage
    expected = usage.input_tokens / 1000 * 0.1 + usage.output_tokens / 1000 * 0.2
    assert done.cost_usd == pytest.approx(expected)
    assert [a.status for a in done.trace.attempts] == ["ok"]


async def test_router_chain_records_whole_path(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        decision = await engine.route(ChatRequest.from_text("hi", model="to-default"))
    assert decision.path == ["to-default", "default"]
    assert decision.model == "small"
    assert "→" in decision.reason


async def test_model_and_family_names_are_valid_targets(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        direct = await engine.chat(ChatRequest.from_text("hi", model="big"))
        family = await engine.route(ChatRequest.from_text("hi", model="vlm"))
    assert direct.model == "big" and direct.decision.router == "direct"
    assert family.model == "eyes"


async def test_unknown_model_lists_known_names(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        with pytest.raises(UnknownModelError) as info:
            await engine.chat(ChatRequest.from_text("hi", model="nope"))
    assert "default" in str(info.value) and "small" in str(info.value)
    assert info.value.status_code == 404


async def test_image_request_rejects_text_only_models(sim_config: Config) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    request = ChatRequest(
        model="slm", messages=[Message(role="user", content=[{"type": "text", "text": "what?"}, image])]
    )
    async with Engine(sim_config) as engine:
        with pytest.raises(NoModelFitsError) as info:
            await engine.route(request)
    assert info.value.rejected == {"small": "does not accept image input"}


async def test_stream_yields_same_text_as_chat_and_final_usage(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        whole = await engine.chat(ChatRequest.from_text("stream this text please"))
        session = await engine.stream(ChatRequest.from_text("stream this text please"))
        chunks = [c async for c in session]
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens == 10
    assert session.trace.ttft_ms is not None
    assert session.trace.answered_by == "small"


@pytest.mark.parametrize(
    ("hints", "rejected_because"),
    [
        ({"latency_budget_ms": 100}, "p50 900 ms exceeds budget 100 ms"),
        ({"latency_budget_ms": 1000}, None),
        ({"privacy": "private"}, "privacy tier third_party exceeds required private"),
        ({"privacy": "device"}, "privacy tier third_party exceeds required device"),
        ({"privacy": "third_party"}, None),
        ({"consent_third_party": False}, "third-party model and the user did not consent"),
        ({"consent_third_party": True}, None),
        ({"max_cost_usd": 0.000001}, "exceeds max_cost $0.000001"),
        ({"max_cost_usd": 100.0}, None),
    ],
)
async def test_latency_budget_privacy_consent_and_cost_hints_filter_candidates(
    sim_config: Config, hints: dict[str, object], rejected_because: str | None
) -> None:
    """``big`` (llm, third_party, p50 900 ms, $3/$15 per 1k) is the only llm: each hint admits or rejects it."""
    request = ChatRequest.from_text("hi", model="llm", max_tokens=50, hints=RoutingHints(**hints))  # type: ignore[arg-type]
    async with Engine(sim_config) as engine:
        if rejected_because is None:
            assert (await engine.route(request)).model == "big"
            return
        with pytest.raises(NoModelFitsError) as info:
            await engine.route(request)
    assert set(info.value.rejected) == {"big"} and rejected_because in info.value.rejected["big"]


async def test_listeners_see_every_request_even_failures(sim_config: Config) -> None:
    seen = []

    class Listener:
        def on_request_end(self, trace: object) -> None:
            seen.append(trace)

    async with Engine(sim_config, listeners=[Listener()]) as engine:
        await engine.chat(ChatRequest.from_text("ok"))
        with pytest.raises(UnknownModelError):
            await engine.chat(ChatRequest.from_text("x", model="nope"))
    assert [t.status for t in seen] == ["ok", "error"]
    assert seen[1].error_kind == "UnknownModelError"


async def test_embed_on_sim_model_is_deterministic(sim_config: Config) -> None:
    async with Engine(sim_config) as engine:
        a, decision, _ = await engine.embed(EmbeddingRequest(model="small", input=["a", "b"]))
        b, _, _ = await engine.embed(EmbeddingRequest(model="small", input=["a", "b"]))
    assert a.vectors == b.vectors and len(a.vectors) == 2
    assert decision.model == "small"


async def test_model_default_means_the_gateway_default_when_nothing_is_named_so() -> None:
    from tests.conftest import make_config

    config = make_config(
        """
        gateway: {default_model: entry}
        models:
          m: {family: slm, provider: sim}
        routers:
          entry: {kind: fixed, target: m}
        """
    )
    async with Engine(config) as engine:
        decision = await engine.route(ChatRequest.from_text("hi", model="default"))
    assert decision.path == ["entry"] and decision.model == "m"
