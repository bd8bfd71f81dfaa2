"""Issue 9, class 5: routers and selection only choose targets that can serve the request's shape.

Capabilities are declared per model (defaults by family and provider, validated at
load); `Registry.select` drops incapable models with the reason, and every router
that chooses among targets falls through to its next capable choice.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelyard import ChatRequest, Engine
from modelyard.config import ModelSpec, load_default_config
from modelyard.errors import ConfigError, NoModelFitsError, RequestError
from modelyard.registry import Registry
from modelyard.types import Family, ImagePart, ImageURL, Message, TextPart
from tests.conftest import make_config


def spec(name: str, family: str, provider: str = "sim", **fields: Any) -> ModelSpec:
    return ModelSpec.model_validate({"name": name, "family": family, "provider": provider, **fields})


def req(text: str, *, image: bool = False, **extra: Any) -> ChatRequest:
    if image:
        content = [TextPart(text=text), ImagePart(image_url=ImageURL(url="data:image/png;base64,AAAA"))]
        return ChatRequest(messages=[Message(role="user", content=content)], **extra)
    return ChatRequest.from_text(text, **extra)


# -- declared capabilities: defaults and validation ------------------------------------------

DEFAULTS = [
    # (family, provider, extra fields, resolved chat, resolved embeddings)
    ("slm", "sim", {}, "free", False),
    ("llm", "openai", {"base_url": "http://127.0.0.1:1/v1"}, "free", False),
    ("mlm", "sim", {}, "classification", True),  # a masked LM is an encoder: it embeds
    ("mlm", "onnx-embed", {"modalities": {"output": ["embedding", "text"]}}, "classification", True),
    ("slm", "onnx-embed", {}, "classification", True),  # an encoder provider never writes free text
    ("mlm", "sim", {"modalities": {"output": ["embedding"]}}, "none", True),
    ("sam", "sim", {"modalities": {"input": ["text", "image"], "output": ["mask"]}}, "free", False),
    ("mlm", "sim", {"capabilities": {"chat": "free"}}, "free", True),  # a generative mlm, declared so
    ("slm", "sim", {"capabilities": {"chat": "none", "embeddings": True}}, "none", True),
]


@pytest.mark.parametrize(("family", "provider", "fields", "chat", "embeddings"), DEFAULTS)
def test_capability_defaults_by_family_and_provider(
    family: str, provider: str, fields: dict[str, Any], chat: str, embeddings: bool
) -> None:
    model = spec("m", family, provider, **fields)
    assert model.capabilities.chat == chat
    assert model.capabilities.embeddings is embeddings


def test_label_sets_of_an_encoder_become_its_tasks() -> None:
    model = spec("m", "mlm", "onnx-embed", options={"label_sets": {"topic": ["sports", "politics"]}})
    assert model.capabilities.tasks == ["topic"]
    assert model.shape_rejection(req("topic: the striker scored twice")) is None


BAD = [
    ("m: {family: mlm, provider: onnx-embed, capabilities: {chat: free}}", "models.m: ", "is an encoder"),
    (
        "m: {family: slm, provider: sim, modalities: {output: [embedding]}, capabilities: {chat: free}}",
        "models.m: ",
        "only embedding",
    ),
    ("m: {family: slm, provider: sim, capabilities: {chat: sometimes}}", "models.m.capabilities.chat", "free"),
    ("m: {family: slm, provider: sim, capabilities: {talks: true}}", "models.m.capabilities.talks", "unknown"),
]


@pytest.mark.parametrize(("model_yaml", "key", "reason"), BAD)
def test_contradictory_capabilities_are_rejected_at_load(model_yaml: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(f"models:\n  {model_yaml}\nrouters: {{default: {{kind: fixed, target: m}}}}\n")
    message = str(info.value)
    assert key in message and reason in message, message


# -- selection --------------------------------------------------------------------------------

SELECTION = [
    # (request, endpoint, family, chosen model or None when nothing fits, reason that must be recorded)
    (req("test"), "chat", "mlm", None, "answers classification requests only"),
    (req("Write a poem about the sea"), "chat", "mlm", None, "not one"),
    (req("Is this review positive or negative: I loved it"), "chat", "mlm", "encoder", "embeddings only"),
    (req("sentiment: great update"), "chat", "mlm", "encoder", "embeddings only"),
    (req("classify: my card was charged twice"), "chat", "mlm", None, "two candidate labels"),
    (req("sentiment: great", image=True), "chat", "mlm", None, "does not accept image input"),
    (req("hello world"), "embeddings", "mlm", "vectors", "does not produce embeddings"),
    (req("hello world"), "embeddings", "slm", None, "does not produce embeddings"),
    (req("Write a poem about the sea"), "chat", "slm", "talker", ""),
]


@pytest.mark.parametrize(("request_", "endpoint", "family", "chosen", "reason"), SELECTION)
def test_selection_drops_models_that_cannot_serve_the_shape(
    request_: ChatRequest, endpoint: Any, family: str, chosen: str | None, reason: str
) -> None:
    registry = Registry(
        {
            s.name: s
            for s in (
                # classification chat, cheapest; declared not to serve /v1/embeddings
                spec("encoder", "mlm", price={"input": 0.001}, capabilities={"embeddings": False}),
                spec("vectors", "mlm", modalities={"output": ["embedding"]}, price={"input": 0.01}),
                spec("talker", "slm"),
            )
        }
    )
    if chosen is None:
        with pytest.raises(NoModelFitsError) as info:
            registry.select(Family(family), request_, endpoint=endpoint)
        assert reason in str(info.value)
        return
    selection = registry.select(Family(family), request_, endpoint=endpoint)
    assert selection.model.name == chosen
    if reason:
        assert any(not c.accepted and reason in c.reason for c in selection.candidates), selection.candidates


# -- routers fall through to the next capable choice --------------------------------------------

ROUTERS = """
models:
  sim-slm: {family: slm, provider: sim}
  sim-mlm: {family: mlm, provider: sim}
  sim-llm: {family: llm, provider: sim}
routers:
  by-rules:
    kind: rules
    rules:
      - {name: encoder-first, when: {words_below: 200}, target: mlm}
      - {name: list, when: {words_below: 200}, target: [mlm, llm]}
    default: slm
  by-profile:
    kind: profile
    table:
      - {name: encoder, when: {modality: text}, target: mlm}
    default: slm
  by-semantic:
    kind: semantic
    threshold: 0.3
    routes:
      - {name: reviews, utterances: ["is this review positive or negative", "write about this review"], target: mlm}
      - {name: writing, utterances: ["write a poem", "write a story"], target: llm}
    fallback: slm
"""

FALL_THROUGH = [
    # (router, text, model that answers, candidate that must say why the first choice was passed over)
    ("by-rules", "sentiment: what a great update", "sim-mlm", None),
    ("by-rules", "Write a poem about this review", "sim-llm", "rule 'encoder-first'"),
    ("by-profile", "sentiment: what a great update", "sim-mlm", None),
    ("by-profile", "Write a poem about this review", "sim-slm", "row 'encoder'"),
    ("by-semantic", "Is this review positive or negative: I loved it", "sim-mlm", None),
    ("by-semantic", "write about this review and a poem too", "sim-llm", "reviews"),
]


@pytest.mark.parametrize(("router", "text", "model", "passed"), FALL_THROUGH)
async def test_routers_fall_through_to_the_next_capable_choice(
    router: str, text: str, model: str, passed: str | None
) -> None:
    engine = Engine(make_config(ROUTERS))
    decision = await engine.route(ChatRequest.from_text(text, model=router))
    assert decision.model == model, decision.explain()
    if passed is not None:
        skipped = [c for c in decision.candidates if c.name == passed and not c.accepted]
        assert skipped and "serve this request" in skipped[0].reason + decision.reason, decision.explain()


CLASSIFIER = [
    # the default classifier judges these mlm; the encoder cannot answer them, so the next capable family does
    ("Label each tweet as happy, angry or neutral.", "smollm2-local", "mlm"),
    ("Which of these comments are spam?", "smollm2-local", "mlm"),
    # the example: out of distribution before the head is asked
    ("test", "smollm2-local", None),
]


@pytest.mark.parametrize(("text", "model", "judged"), CLASSIFIER)
async def test_the_classifier_skips_labels_whose_family_cannot_serve(text: str, model: str, judged: str | None) -> None:
    async with Engine(load_default_config()) as engine:
        decision = await engine.route(ChatRequest.from_text(text))
    assert decision.model == model, decision.explain()
    assert decision.details.get("judged") == judged
    if judged is not None:
        assert any(
            c.name == judged and not c.accepted and "cannot serve this request" in c.reason for c in decision.candidates
        ), decision.explain()


# -- the context window is part of the capability check -------------------------------------------

CONTEXT = """
models:
  tiny-slm: {family: slm, provider: sim, context_window: 100}
  big-llm: {family: llm, provider: sim, context_window: 4000}
routers:
  listed:
    kind: rules
    rules:
      - {name: images, when: {has_image: true}, target: llm}
    default: [slm, llm]
  by-semantic:
    kind: semantic
    threshold: 0.3
    routes:
      - {name: poems, utterances: ["write a poem", "write a poem about the sea"], target: slm}
    fallback: llm
"""
POEM = "Write a poem about the sea. " + "The waves roll in and out again under a grey sky. " * 20  # ~270 tokens

CONTEXT_ROWS = [
    # (router, text, max_tokens, model that answers or None for the client's 400, candidate passed over)
    ("listed", "Write a poem about the sea.", None, "tiny-slm", None),
    ("listed", POEM, None, "big-llm", "family:slm"),
    ("listed", "Write a poem about the sea.", 500, "big-llm", "family:slm"),  # the output it asks for counts
    ("by-semantic", "Write a poem about the sea.", None, "tiny-slm", None),
    ("by-semantic", POEM, None, "big-llm", "poems"),
    ("listed", POEM * 80, None, None, None),  # ~21,000 tokens: no model can hold it
    ("by-semantic", "Write a poem about the sea.", 5000, None, None),
]


@pytest.mark.parametrize(("router", "text", "max_tokens", "model", "passed"), CONTEXT_ROWS)
async def test_a_target_whose_context_cannot_hold_the_request_is_passed_over(
    router: str, text: str, max_tokens: int | None, model: str | None, passed: str | None
) -> None:
    engine = Engine(make_config(CONTEXT))
    request = ChatRequest.from_text(text, model=router, max_tokens=max_tokens)
    if model is None:
        with pytest.raises(RequestError, match=r"no model that can serve it has a context window that large") as err:
            await engine.route(request)
        assert (err.value.code, err.value.param, err.value.status_code) == ("context_too_long", "messages", 400)
        assert "big-llm's 4000 tokens" in str(err.value)
        return
    decision = await engine.route(request)
    assert decision.model == model, decision.explain()
    if passed is not None:
        skipped = [c for c in decision.candidates if c.name == passed and not c.accepted]
        assert skipped and "context window is 100" in skipped[0].reason, decision.explain()
