"""Issue 9, class 5: a request too long for the family the classifier picks is still answered.

SmolLM2's window is 2,048 tokens. A long text the classifier labels ``slm`` used to
fail selection (NoModelFitsError) — an error of the router's own making. Context
fit is now part of the capability check every router falls through on
(`ModelSpec.shape_rejection`), so the request goes on to a family whose model can
hold it, and the decision's candidates say why SmolLM2 was passed over. Only a
request no configured model can hold is the client's 400 ``context_too_long``.

The real gateway on the embedded default config, driven by the official ``openai`` SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from modelyard.config import load_default_config
from modelyard.engine import Engine
from modelyard.server import create_app
from tests.server.server_harness import Gateway, Traces, serve

SENTENCE = (
    "The old lighthouse keeper walked along the shore every morning, counting the boats that came home "
    "and writing their names in a worn notebook that his father had kept before him. "
)
PROSE = SENTENCE * 100  # ~3,700 words, ~5,000 estimated tokens
CODE = "".join(
    f"def step_{i}(values):\n    return [v * {i} + {i % 7} for v in values if v > {i}]\n\n" for i in range(300)
)
CHINESE = "这是一个很长的故事，讲的是一位老灯塔看守人每天早上沿着海岸散步，数着回家的船只。" * 300
RUSSIAN = "Старый смотритель маяка каждое утро гулял вдоль берега и считал лодки, возвращавшиеся домой. " * 120

#: (turn, what it is, SmolLM2 was the router's pick) — each too long for SmolLM2's 2,048-token window and short
#: enough for the reasoning tier. Code is judged ``llm`` outright; the rest fall through past ``slm``.
LONG: list[tuple[str, str, bool]] = [
    (f"Please summarise this story in two sentences:\n\n{PROSE}", "prose with a task", True),
    (PROSE, "bare prose (the issue's example)", True),
    (f"Review this code:\n\n{CODE}", "code with a task", False),
    (CODE, "bare code", False),
    (CHINESE, "other script (Chinese)", True),
    (RUSSIAN, "other script (Russian)", True),
]

SMOLLM2_WINDOW = "context window is 2048"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    traces = Traces()
    engine = Engine(load_default_config(), listeners=[traces])
    with serve(create_app(engine)) as url:
        yield Gateway(url, engine, traces)


def test_every_long_turn_is_too_long_for_smollm2() -> None:
    """The table tests what it claims: SmolLM2 cannot hold any row (so the row must fall through)."""
    config = load_default_config()
    window = config.models["smollm2-local"].context_window
    for turn, what, _ in LONG:
        assert len(turn) // 4 > window, what


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("turn", "what", "fell_through"), LONG, ids=[w for _, w, _ in LONG])
def test_a_long_turn_is_answered_by_a_model_whose_context_fits(
    gateway: Gateway, turn: str, what: str, fell_through: bool
) -> None:
    before = len(gateway.traces.items)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": turn}], max_tokens=8
    )
    completion = raw.parse()
    assert raw.http_response.status_code == 200
    assert completion.choices[0].message.content
    answered = raw.headers["x-modelyard-model"]
    spec = gateway.engine.registry.get(answered)
    assert spec.context_window >= len(turn) // 4 + 8, (what, answered)
    decision = gateway.traces.items[before].decision
    assert decision is not None and decision.model == answered
    assert answered != "smollm2-local"
    passed_over = [c for c in decision.candidates if not c.accepted and SMOLLM2_WINDOW in c.reason]
    assert bool(passed_over) is fell_through, decision.explain()  # why SmolLM2 was passed over, when it was


def test_a_long_turn_streams_from_a_model_whose_context_fits(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": PROSE}], max_tokens=8, stream=True
    )
    models = {c.model for c in stream}
    assert len(models) == 1 and "smollm2-local" not in models


@pytest.mark.parametrize(
    ("turn", "max_tokens"),
    [
        ("x " * 900_000, 8),  # ~450,000 tokens: over the largest window (sim-llm, 200,000)
        ("Write a very long novel about lighthouses.", 250_000),  # short, but asks for more output than fits
    ],
    ids=["too long for every model", "max_tokens beyond every window"],
)
def test_only_a_request_no_model_can_hold_is_the_clients_400(gateway: Gateway, turn: str, max_tokens: int) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(
            model="default", messages=[{"role": "user", "content": turn}], max_tokens=max_tokens
        )
    error = caught.value
    assert error.status_code == 400 and error.code == "context_too_long" and error.param == "messages"
    assert "context window" in error.message and "sim-llm's 200000 tokens" in error.message
