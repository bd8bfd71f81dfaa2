"""Issue 9, class 5: no valid chat request to the embedded default gets an error of the router's making.

The real gateway on the embedded default config (SmolLM2 and MiniLM are real local
models; the rest are simulated), driven by the official ``openai`` SDK. Every turn
— short, junk, emoji, punctuation, code, many languages, natural-language
classification — must come back 200 with a non-empty chat answer. Rows that name a
model also check who answered: junk goes to the safe target (SmolLM2), a
classification request the encoder can answer goes to MiniLM (with the label in
the answer), and free chat never reaches the encoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
import pytest

from modelyard.config import load_default_config
from modelyard.engine import Engine
from modelyard.server import create_app
from tests.server.server_harness import Gateway, Traces, serve

SLM, MLM = "smollm2-local", "minilm-local"

#: (turn, model that must answer or None for any capable one, text the answer must contain or None)
TURNS: list[tuple[str, str | None, str | None]] = [
    # the issue's example and other very short turns
    ("test", SLM, None),
    ("hi", SLM, None),
    ("ok", SLM, None),
    ("a", SLM, None),
    ("42", SLM, None),
    ("test test", None, None),
    # junk and punctuation
    ("asdfgh", SLM, None),
    ("qwerty", SLM, None),
    ("asdf jkl;", SLM, None),
    ("?", SLM, None),
    ("...", SLM, None),
    ("!!!", SLM, None),
    ("{}", SLM, None),
    ("lorem ipsum", None, None),
    # keyboard mash and repeated syllables: no known words (or nothing like a request), so the safe target
    ("asdkjh qwpoeiru zxmcnb", SLM, None),
    ("lkjlkj sdfsdf", SLM, None),
    ("qwerty uiop asdf", SLM, None),
    ("poiuy lkjhg mnbvc", SLM, None),
    ("blah blah blah", SLM, None),
    # emoji
    ("👍", SLM, None),
    ("😀😀😀", SLM, None),
    ("🙂🙃", SLM, None),
    ("🔥🔥 lol", None, None),
    # code snippets
    ("print('hi')", None, None),
    ("SELECT * FROM users;", None, None),
    ("def f(x): return x*2", None, None),
    ("<div></div>", None, None),
    # many languages
    ("你好", SLM, None),
    ("今天天气怎么样？", SLM, None),
    ("مرحبا", SLM, None),
    ("كيف حالك؟", None, None),
    ("Привет", SLM, None),
    ("Как дела?", None, None),
    ("नमस्ते", SLM, None),
    ("आप कैसे हैं?", None, None),
    ("Hola, ¿qué tal?", None, None),
    ("¿Cuál es la capital de Francia?", None, None),
    ("こんにちは", SLM, None),
    ("안녕하세요", SLM, None),
    ("שלום", SLM, None),
    ("Γεια σου", None, None),
    ("สวัสดี", SLM, None),
    ("Bonjour", SLM, None),
    ("Wie spät ist es?", None, None),
    # natural-language classification: the encoder answers, labels taken from the question
    ("Is this review positive or negative: I loved it", MLM, "positive"),
    ("Classify this as billing, technical or sales: my card was charged twice", MLM, "billing"),
    ("What is the sentiment of: the food was cold and the waiter ignored us", MLM, "negative"),
    ("What language is 'Guten Morgen'?", MLM, "German"),
    ("Which language is this text written in? Привет, как дела?", MLM, "Russian"),
    ("Detect the language: 你好，请介绍一下你自己", MLM, "Chinese"),
    ("What's the intent of this message: 'I need to change my delivery address'?", MLM, "request"),
    ("Categorize this ticket into billing, shipping, or returns: where is my package?", MLM, "shipping"),
    ("Is this English or Spanish: hola amigo, buenos días", MLM, "Spanish"),
    ("sentiment: the update is great", MLM, "positive"),
    ("intent: hello, good morning!", MLM, "greeting"),
    # classification-shaped, but not one text the encoder can label: the next capable family answers
    ("classify: my card was charged twice", SLM, None),
    ("Label each tweet as happy, angry or neutral.", SLM, None),
    ("Tag each of these articles with a topic: sports, politics, tech or health.", None, None),
    ("Explain why this is positive or negative: I loved it", None, None),
    # plain chat
    ("What is 2 + 2?", None, None),
    ("Write a haiku about routers", None, None),
    ("Tell me a joke", None, None),
]


#: Few output tokens keep SmolLM2 (the slow part: ~0.5 s of prompt evaluation a turn on 2 cores) fast.
MAX_TOKENS = 4


@dataclass
class Answer:
    status: int
    model_header: str
    model: str
    text: str | None


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    traces = Traces()
    engine = Engine(load_default_config(), listeners=[traces])
    app = create_app(engine)
    with serve(app) as url:
        yield Gateway(url, engine, traces, app)


@pytest.fixture(scope="module")
def answers(gateway: Gateway) -> dict[str, Answer]:
    """Every turn sent once, three at a time (SmolLM2 answers one at a time; the rest overlap with it)."""
    client = gateway.client()

    def ask(turn: str) -> Answer:
        raw = client.chat.completions.with_raw_response.create(
            model="default", messages=[{"role": "user", "content": turn}], max_tokens=MAX_TOKENS
        )
        completion = raw.parse()
        return Answer(
            raw.http_response.status_code,
            raw.headers["x-modelyard-model"],
            completion.model,
            completion.choices[0].message.content,
        )

    with ThreadPoolExecutor(3) as pool:
        return dict(zip((t for t, _, _ in TURNS), pool.map(ask, (t for t, _, _ in TURNS)), strict=True))


def test_the_table_is_the_size_the_issue_asks_for() -> None:
    assert len(TURNS) >= 50
    assert len({t for t, _, _ in TURNS}) == len(TURNS)


@pytest.mark.timeout(300)  # the first row also waits for the module's fixture: every turn, sent once
@pytest.mark.parametrize(("turn", "model", "expect"), TURNS, ids=[t[:40] for t, _, _ in TURNS])
def test_every_turn_gets_a_chat_answer(
    answers: dict[str, Answer], turn: str, model: str | None, expect: str | None
) -> None:
    got = answers[turn]  # a 4xx/5xx would have raised in the fixture, naming the turn's error
    assert got.status == 200
    answer = got.text
    assert answer and answer.strip(), (turn, got)
    answered_by = got.model_header
    assert answered_by == got.model
    if model is not None:
        assert answered_by == model, (turn, got)
    if answered_by == MLM:  # the encoder's chat answer: a sentence or JSON, always with the structured result
        result = json.loads(answer.splitlines()[-1])
        assert result["label"] in answer.splitlines()[0] or len(answer.splitlines()) == 1
        if expect is not None:
            assert result["label"] == expect, (turn, answer)


@pytest.mark.parametrize(
    ("turn", "model"),
    [("test", SLM), ("Is this review positive or negative: I loved it", MLM), ("🙂🙃", SLM)],
)
def test_streaming_turns_are_answered_too(gateway: Gateway, turn: str, model: str) -> None:
    stream = gateway.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": turn}], max_tokens=MAX_TOKENS, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert {c.model for c in chunks} == {model}


def test_the_issue_example_says_why_it_went_to_the_safe_target(gateway: Gateway) -> None:
    before = len(gateway.traces.items)
    client = gateway.client()
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "test"}], max_tokens=4
    )
    assert completion.model == SLM
    trace = gateway.traces.items[before]
    assert trace.decision is not None
    assert "out of distribution" in trace.decision.reason, trace.decision.explain()


def test_naming_the_encoder_directly_with_free_chat_is_still_a_clear_400(gateway: Gateway) -> None:
    """Asked by name, the encoder is not re-routed: the caller hears what it can do."""
    with pytest.raises(openai.BadRequestError, match=r"embedding model.*classify"):
        gateway.client().chat.completions.create(
            model=MLM, messages=[{"role": "user", "content": "Write me a poem"}], max_tokens=MAX_TOKENS
        )
