"""A context-too-long error moves the request to a larger-context model of the same family.

No chain has to name it: the fallback run widens itself on ``context_too_long``
with the same-family models whose ``context_window`` is larger than the one
that overflowed, smallest first, and skips any candidate no larger (even one a
chain names). Every model sits behind its own `LoopbackUpstream` with a real
context window, so the overflow is the upstream's own 400 over a real socket and
each upstream's request log says exactly who was called. Streamed and not.
(The gateway-level case with an explicitly configured chain and SGLang's wording
is in tests/providers/test_context_fallback.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from itertools import pairwise

import pytest

from modelyard.engine import Engine
from modelyard.errors import ContextTooLongError
from modelyard.testing import LoopbackUpstream
from modelyard.types import ChatRequest
from tests.resilience.modes import Mode, ask_engine

MakeEngine = Callable[..., Engine]
PROMPT = "summarise these words about rivers lakes seas oceans ponds creeks brooks streams and every other water"

#: model → (family, declared context_window, price, the upstream's real window in words or None)
MODELS = {
    "short": ("llm", 4096, 1.0, 12),  # declared big enough for the estimate; the upstream says otherwise
    "same": ("llm", 4096, 1.5, None),  # same family, no larger window: never the answer to an overflow
    "mid": ("llm", 8192, 2.0, 10_000),
    "long": ("llm", 128_000, 3.0, None),
    "wide": ("slm", 1_000_000, 0.5, None),  # larger, but another family
}


@pytest.fixture
async def upstreams(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, LoopbackUpstream]]:
    windows = {name: spec[3] for name, spec in MODELS.items()} | getattr(request, "param", {})
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(LoopbackUpstream(context_window=window))
            for name, window in windows.items()
        }


def config(upstreams: dict[str, LoopbackUpstream], resilience: str) -> str:
    models = "".join(
        f"  {name}: {{family: {fam}, provider: openai, base_url: '{upstreams[name].url}/v1', "
        f"context_window: {window}, price: {{input: {price}, output: {price}}}}}\n"
        for name, (fam, window, price, _) in MODELS.items()
    )
    return f"version: 1\nmodels:\n{models}routers: {{default: {{kind: fixed, target: short}}}}\n{resilience}"


@pytest.mark.parametrize(
    ("resilience", "upstreams", "answered_by", "called", "skipped"),
    [
        pytest.param("", {}, "mid", ["short", "mid"], [], id="no chain configured: the next larger window"),
        pytest.param(
            "resilience: {fallbacks: {short: [same]}}\n",
            {},
            "mid",
            ["short", "mid"],
            ["same"],
            id="a chained model no larger is skipped",
        ),
        pytest.param(
            "",
            {"mid": 12},
            "long",
            ["short", "mid", "long"],
            [],
            id="the larger one overflows too: the next one up",
        ),
    ],
    indirect=["upstreams"],
)
async def test_overflow_moves_to_a_larger_context_model(
    make_engine: MakeEngine,
    upstreams: dict[str, LoopbackUpstream],
    mode: Mode,
    resilience: str,
    answered_by: str,
    called: list[str],
    skipped: list[str],
) -> None:
    engine = make_engine(config(upstreams, resilience))
    reply = await ask_engine(engine, ChatRequest.from_text(PROMPT, model="short"), mode)
    assert reply.model == answered_by and "rivers lakes seas" in reply.text
    attempts = [(a.model, a.error_kind) for a in reply.trace.attempts]
    assert attempts == [(m, "context_too_long") for m in called[:-1]] + [(answered_by, None)]
    assert {name for name, up in upstreams.items() if up.requests} == set(called)  # nobody else was called
    assert all(len(upstreams[m].requests) == 1 for m in called)
    moves = [(e.data["from_model"], e.data["to_model"]) for e in reply.trace.events if e.kind == "fallback"]
    assert moves == list(pairwise(called))
    skips = [e.data for e in reply.trace.events if e.kind == "fallback_skip"]
    assert [s["model"] for s in skips] == skipped
    assert all(s["reason"] == "context window no larger than the one that overflowed" for s in skips)


async def test_without_context_too_long_among_the_fallback_kinds_the_caller_gets_it(
    make_engine: MakeEngine, upstreams: dict[str, LoopbackUpstream], mode: Mode
) -> None:
    engine = make_engine(config(upstreams, "resilience: {fallback_on: [server, timeout]}\n"))
    with pytest.raises(ContextTooLongError):
        await ask_engine(engine, ChatRequest.from_text(PROMPT, model="short"), mode)
    assert [name for name, up in upstreams.items() if up.requests] == ["short"]
