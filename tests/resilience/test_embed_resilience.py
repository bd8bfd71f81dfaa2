"""Embeddings go through the same resilience driver as chat (README: "One driver, streamed or not").

Two OpenAI-protocol embedding models, each behind its own `LoopbackUpstream` over
a real socket. The primary fails; the embedding call is retried, falls back to
the backup, and opens the primary's breaker, so the next call never reaches the
primary. Each upstream's request log says exactly who was called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from modelyard.engine import Engine
from modelyard.errors import UpstreamServerError
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import EmbeddingRequest

MakeEngine = Callable[..., Engine]
EMBED = "/v1/embeddings"


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[LoopbackUpstream, LoopbackUpstream]]:
    async with LoopbackUpstream() as primary, LoopbackUpstream() as backup:
        yield primary, backup


def _config(primary: LoopbackUpstream, backup: LoopbackUpstream, resilience: str) -> str:
    models = "".join(
        f"  {name}: {{family: mlm, provider: openai, base_url: '{up.url}/v1', "
        "modalities: {input: [text], output: [embedding]}, price: {input: 1.0}}\n"
        for name, up in (("primary", primary), ("backup", backup))
    )
    return f"version: 1\nmodels:\n{models}resilience:\n{resilience}"


def _embeds(up: LoopbackUpstream) -> int:
    return sum(1 for r in up.requests if r.path.endswith(EMBED))


async def test_an_embedding_is_retried_then_falls_back_and_opens_the_breaker(
    make_engine: MakeEngine, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    primary, backup = upstreams
    primary.faults.add(Fault(status=500, times=None, path=EMBED))
    engine = make_engine(
        _config(
            primary,
            backup,
            "  retry: {attempts: 2, base_delay_ms: 1, max_delay_ms: 2}\n"
            "  fallbacks: {primary: [backup]}\n"
            "  breaker: {failure_threshold: 2, cooldown_s: 60}\n",
        )
    )
    response, _, trace = await engine.embed(EmbeddingRequest(model="primary", input=["rivers", "lakes"]))
    assert response.model == "backup" and len(response.vectors) == 2
    assert [(a.model, a.status, a.error_kind) for a in trace.attempts] == [
        ("primary", "error", "server"),
        ("primary", "error", "server"),
        ("backup", "ok", None),
    ]
    assert [e.kind for e in trace.events] == ["retry", "breaker", "fallback"]  # the second failure opened it
    assert (_embeds(primary), _embeds(backup)) == (2, 1)
    assert trace.cost_usd > 0 and all(a.cost_usd == 0 for a in trace.attempts if a.model == "primary")

    # two failures opened the primary's breaker: the next embedding goes straight to the backup
    response, _, trace = await engine.embed(EmbeddingRequest(model="primary", input=["seas"]))
    assert response.model == "backup"
    assert (_embeds(primary), _embeds(backup)) == (2, 2)
    assert "primary" not in [a.model for a in trace.attempts if a.status in ("ok", "error")]


async def test_without_a_fallback_the_embedding_error_reaches_the_caller_after_its_retries(
    make_engine: MakeEngine, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    primary, backup = upstreams
    primary.faults.add(Fault(status=503, times=None, path=EMBED))
    engine = make_engine(
        _config(
            primary, backup, "  retry: {attempts: 3, base_delay_ms: 1, max_delay_ms: 2}\n  breaker: {enabled: false}\n"
        )
    )
    with pytest.raises(UpstreamServerError):
        await engine.embed(EmbeddingRequest(model="primary", input=["rivers"]))
    assert (_embeds(primary), _embeds(backup)) == (3, 0)
