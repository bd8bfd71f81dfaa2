"""The local MiniLM provider: real ONNX inference, no mocks."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pytest

from modelyard.config import parse_config
from modelyard.config.models import ModelSpec
from modelyard.errors import BadRequestError, ConfigError, ProviderTimeoutError
from modelyard.providers import create_provider
from modelyard.providers.local_embed import OnnxEmbeddingProvider
from modelyard.types import ChatRequest, Message

CONFIG = """
version: 1
models:
  minilm:
    family: mlm
    provider: onnx-embed
    price: {input: 0.002}
    options:
      label_sets:
        topic: [sports, cooking, finance]
routers:
  default: {kind: fixed, target: mlm}
"""


def _spec(**options: Any) -> ModelSpec:
    return ModelSpec(name="minilm", family="mlm", provider="onnx-embed", options=options)


@pytest.fixture
def provider() -> OnnxEmbeddingProvider:
    spec = parse_config(CONFIG).models["minilm"]
    made = create_provider(spec)
    assert isinstance(made, OnnxEmbeddingProvider)
    return made


def _scores(text: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(text)
    return out


async def test_embeddings_are_unit_vectors_with_meaning(provider: OnnxEmbeddingProvider) -> None:
    texts = [
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        "The recipe needs two cups of flour.",
    ]
    response = await provider.embed(texts)
    vectors = np.asarray(response.vectors)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.6
    assert similar > unrelated + 0.4
    assert response.model == "minilm" and response.provider == "onnx-embed"
    assert response.simulated is False


async def test_token_counts_come_from_the_tokenizer(provider: OnnxEmbeddingProvider) -> None:
    one = await provider.embed(["hello"])
    # [CLS] hello [SEP]
    assert one.usage.input_tokens == 3
    both = await provider.embed(["hello", "hello world, this is a longer sentence"])
    assert both.usage.input_tokens == 3 + 10  # 8 word pieces + [CLS] [SEP]
    assert both.cost_usd == pytest.approx(13 / 1000 * 0.002)


async def test_truncation_caps_token_counts() -> None:
    short = OnnxEmbeddingProvider(_spec(max_length=16))
    response = await short.embed(["word " * 100])
    assert response.usage.input_tokens == 16
    await short.aclose()


async def test_embedding_runs_off_the_event_loop(provider: OnnxEmbeddingProvider) -> None:
    await provider.warmup()
    await provider.warmup()  # idempotent
    seen: set[str] = set()
    original = provider.encoder.encode

    def spy(texts: Any, *, batch_size: int = 64) -> Any:
        seen.add(threading.current_thread().name)
        return original(texts, batch_size=batch_size)

    provider.encoder.encode = spy  # type: ignore[method-assign]
    try:
        await provider.embed(["which thread am I on?"])
    finally:
        del provider.encoder.encode
    assert seen and all(name.startswith("onnx-embed") for name in seen)


async def test_sentiment_with_builtin_labels(provider: OnnxEmbeddingProvider) -> None:
    cases = {
        "I absolutely love this phone, best purchase ever!": "positive",
        "This is the worst service I have ever had, I am furious.": "negative",
        "The package arrived on Tuesday.": "neutral",
    }
    for text, label in cases.items():
        response = await provider.chat(ChatRequest.from_text(f"sentiment: {text}"))
        answer = _scores(response.text)
        assert answer["label"] == label, (text, answer)
        assert set(answer["scores"]) == {"positive", "negative", "neutral"}
        assert response.usage.input_tokens > 3 and response.usage.output_tokens == 0


async def test_intent_with_builtin_labels(provider: OnnxEmbeddingProvider) -> None:
    cases = {
        "What time does the store open on Sunday?": "question",
        "Please book me a table for two tonight.": "request",
        "Hello, good morning!": "greeting",
        "My order arrived broken and nobody answers my emails.": "complaint",
    }
    for text, label in cases.items():
        response = await provider.chat(ChatRequest.from_text(f"intent: {text}"))
        assert _scores(response.text)["label"] == label, text


async def test_labels_line_extra_field_and_config_sets(provider: OnnxEmbeddingProvider) -> None:
    line = ChatRequest.from_text(
        "classify: The striker scored twice in the cup final.\nlabels: sports, politics, cooking"
    )
    answer = _scores((await provider.chat(line)).text)
    assert answer["label"] == "sports" and answer["task"] == "classify"
    assert "labels" not in json.dumps(answer["scores"])

    extra = ChatRequest.from_text(
        "classify: Preheat the oven and whisk the eggs.",
        labels={"kitchen": ["cooking a meal", "a recipe"], "garage": ["fixing a car engine"]},
    )
    assert _scores((await provider.chat(extra)).text)["label"] == "kitchen"

    configured = ChatRequest.from_text("topic: Stocks fell as interest rates rose.")
    assert _scores((await provider.chat(configured)).text)["label"] == "finance"


async def test_labels_line_may_sit_in_the_system_message(provider: OnnxEmbeddingProvider) -> None:
    request = ChatRequest(
        messages=[
            Message(role="system", content="labels: weather, music"),
            Message(role="user", content="tag: Heavy rain and thunderstorms expected tonight."),
        ]
    )
    assert _scores((await provider.chat(request)).text)["label"] == "weather"


async def test_label_output_option_and_json_response_format() -> None:
    provider = OnnxEmbeddingProvider(_spec(output="label"))
    request = ChatRequest.from_text("sentiment: I hate this, it is awful and broken.")
    assert (await provider.chat(request)).text == "negative"
    as_json = request.model_copy(update={"response_format": {"type": "json_object"}})
    assert _scores((await provider.chat(as_json)).text)["label"] == "negative"


async def test_stream_matches_chat(provider: OnnxEmbeddingProvider) -> None:
    request = ChatRequest.from_text("sentiment: What a lovely gift, I'm delighted.")
    whole = await provider.chat(request)
    chunks = [chunk async for chunk in provider.stream(request)]
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == whole.usage


@pytest.mark.parametrize(
    "text",
    [
        "Write me a poem about the sea.",
        "classify: some text without any labels",
        "sentiment:   ",
        "classify: a\nlabels: only-one",
    ],
)
async def test_what_an_encoder_cannot_answer_is_a_bad_request(
    provider: OnnxEmbeddingProvider, text: str
) -> None:
    with pytest.raises(BadRequestError, match="embedding model"):
        await provider.chat(ChatRequest.from_text(text))


async def test_bad_label_field_is_a_bad_request(provider: OnnxEmbeddingProvider) -> None:
    request = ChatRequest.from_text("classify: hi", labels=42)
    with pytest.raises(BadRequestError, match="'labels' must be"):
        await provider.chat(request)


async def test_timeout_raises_provider_timeout(provider: OnnxEmbeddingProvider) -> None:
    await provider.warmup()
    texts = [f"sentence number {i} about something quite ordinary" for i in range(2000)]
    with pytest.raises(ProviderTimeoutError):
        await provider.embed(texts, timeout=0.05)
    # The worker stopped at a batch boundary and is free again.
    response = await asyncio.wait_for(provider.embed(["still alive"]), 5.0)
    assert len(response.vectors) == 1


def test_bad_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"models\.minilm\.options\.max_length"):
        OnnxEmbeddingProvider(_spec(max_length=4))


# -- issue 9: natural-language classification requests --------------------------------------------

NATURAL = [
    # (turn, task, label) — labels taken from the question, or the task's built-in set
    ("Is this review positive or negative: I loved it", "sentiment", "positive"),
    ("Is this review positive or negative: the worst purchase I ever made", "sentiment", "negative"),
    ("Classify this as billing, technical or sales: my card was charged twice", "classify", "billing"),
    ("Categorize this ticket into billing, shipping, or returns: where is my package?", "classify", "shipping"),
    ("What is the sentiment of: the food was cold and the waiter ignored us", "sentiment", "negative"),
    ("What's the intent of this message: 'Could you cancel my order?'", "intent", "request"),
    ("Does this message belong to sales or support? I want a quote for 50 seats", "classify", "sales"),
    ("What language is 'Guten Morgen'?", "language", "German"),
    ("What language is this: Hola amigo, ¿cómo estás?", "language", "Spanish"),
    ("Detect the language: 你好，请介绍一下你自己", "language", "Chinese"),
    ("Which language is this text written in? Привет, как дела?", "language", "Russian"),
    ("Identify the language: नमस्ते, आप कैसे हैं?", "language", "Hindi"),
    ("language: مرحبا كيف حالك", "language", "Arabic"),
    ("Is this English or Spanish: hola amigo, buenos días", "language", "Spanish"),
]


@pytest.mark.parametrize(("turn", "task", "label"), NATURAL, ids=[n[0][:40] for n in NATURAL])
async def test_natural_language_classification_is_answered(
    provider: OnnxEmbeddingProvider, turn: str, task: str, label: str
) -> None:
    response = await provider.chat(ChatRequest.from_text(turn))
    lines = response.text.splitlines()
    answer = _scores(lines[-1])
    assert (answer["task"], answer["label"]) == (task, label), response.text
    assert max(answer["scores"], key=answer["scores"].get) == label
    if len(lines) == 2:  # asked in words: a sentence first, then the structured answer
        assert lines[0].endswith(f": {label}.")
    if task == "language":
        assert answer["code"] and sum(answer["scores"].values()) <= 1.0 + 1e-6


async def test_labels_named_like_built_in_ones_use_their_examples(provider: OnnxEmbeddingProvider) -> None:
    """"positivo / negativo / neutro" are matched to the built-in sentiment examples by stem."""
    turn = 'Clasifica este comentario como positivo, negativo o neutro: "I love it, this is great!"'
    answer = _scores((await provider.chat(ChatRequest.from_text(turn))).text.splitlines()[-1])
    assert answer["task"] == "sentiment" and answer["label"] == "positivo"


async def test_unknown_language_names_are_a_bad_request(provider: OnnxEmbeddingProvider) -> None:
    with pytest.raises(BadRequestError, match="unknown language 'Klingon'"):
        await provider.chat(ChatRequest.from_text("language: hello there\nlabels: English, Klingon"))
