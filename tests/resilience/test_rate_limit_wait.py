"""``on_limit: wait``: a model at its configured rate limit is waited for, within bounds.

``limited`` allows 600 tokens a minute (a bucket of 600 refilling at 10 a
second). A first request reserving its whole answer (max_tokens 1000, and the
SIMULATED model really answers 1000 tokens, so nothing is given back) empties
the bucket; the next request needs ~10 tokens, ~1 s of refill. With ``wait`` it
is queued and answered by ``limited`` itself; when the wait would pass
``max_wait_ms`` or the request's latency budget, or with ``skip``, it falls back
at once to ``backup`` without calling ``limited``. Streamed and not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from modelyard.engine import Engine
from modelyard.types import ChatRequest, RoutingHints
from tests.resilience.modes import Mode, ask_engine

MakeEngine = Callable[..., Engine]

CONFIG = """
version: 1
models:
  limited: {family: slm, provider: sim, latency_p50_ms: 10, options: {output_tokens: 1000}}
  backup:  {family: slm, provider: sim, latency_p50_ms: 10, options: {output_tokens: 5}}
routers: {default: {kind: fixed, target: limited}}
resilience:
  fallbacks: {limited: [backup]}
  limits: {models: {limited: {tpm: 600, on_limit: %s}}}
"""


@pytest.mark.parametrize(
    ("limit", "hints", "answered_by", "min_s", "max_s"),
    [
        pytest.param("wait", {}, "limited", 0.7, 3.0, id="wait: queued ~1 s, then answered by the model"),
        pytest.param("wait, max_wait_ms: 200", {}, "backup", 0.0, 0.6, id="wait longer than max_wait_ms: fall back"),
        pytest.param("wait", {"latency_budget_ms": 300}, "backup", 0.0, 0.6, id="wait past the deadline: fall back"),
        pytest.param("skip", {}, "backup", 0.0, 0.6, id="skip: fall back at once"),
    ],
)
async def test_a_model_at_its_limit_is_waited_for_or_skipped(
    make_engine: MakeEngine,
    mode: Mode,
    limit: str,
    hints: dict[str, float],
    answered_by: str,
    min_s: float,
    max_s: float,
) -> None:
    engine = make_engine(CONFIG % limit)
    first = await ask_engine(engine, ChatRequest.from_text("fill it", model="limited", max_tokens=1000), mode)
    assert first.model == "limited" and first.trace.attempts[0].usage.output_tokens == 1000  # the bucket is empty now
    request = ChatRequest.from_text("hi", model="limited", max_tokens=5, hints=RoutingHints(**hints))  # type: ignore[arg-type]
    started = time.perf_counter()
    reply = await ask_engine(engine, request, mode)
    elapsed = time.perf_counter() - started
    assert reply.model == answered_by
    assert min_s <= elapsed < max_s, elapsed
    assert [a.model for a in reply.trace.attempts] == [answered_by]  # ``limited`` was never called, or called once
    fallbacks = [e.data for e in reply.trace.events if e.kind == "fallback"]
    if answered_by == "backup":
        assert [(f["from_model"], f["error_kind"]) for f in fallbacks] == [("limited", "rate_limited")]
    else:
        assert fallbacks == []
