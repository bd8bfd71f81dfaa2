"""The resilient call path through the engine, on SIMULATED models (no network here), in both modes.

Every test runs streamed and not (the ``mode`` fixture, `tests.resilience.modes`)
and asserts what the client gets, what was retried, which fallback served, the
breaker state and the recorded cost. The same faults over real sockets, through
the gateway, are in ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from modelyard.engine import Engine
from modelyard.errors import (
    BudgetExceededError,
    ContentFilteredError,
    RateLimitExceededError,
    UpstreamServerError,
)
from modelyard.types import ChatRequest, RequestTrace, RoutingHints
from tests.resilience.modes import Mode, ask_engine

MakeEngine = Callable[..., Engine]

BASE = """
version: 1
models:
  flaky:
    {family: slm, provider: sim, price: {input: 1, output: 1}, options: {failure_rate: 1.0, output_tokens: 5}}
  backup:  {family: slm, provider: sim, price: {input: 2, output: 2}, options: {output_tokens: 5}}
  moe-a:   {family: moe, provider: sim, options: {output_tokens: 5}}
  big:     {family: llm, provider: sim, options: {output_tokens: 5}}
routers:
  default: {kind: fixed, target: flaky}
  healthy-moe: {kind: rules, rules: [{when: {needs_pixel_mask: true}, target: slm}], default: [moe, llm]}
"""


def req(text: str = "hello there", **kw: object) -> ChatRequest:
    return ChatRequest.from_text(text, **kw)  # type: ignore[arg-type]


def kinds(engine_trace: object) -> list[str]:
    return [e.kind for e in engine_trace.events]  # type: ignore[attr-defined]


class _Traces:
    """An engine listener keeping every finished request's trace."""

    def __init__(self, into: list[RequestTrace]) -> None:
        self.into = into

    def on_request_end(self, trace: RequestTrace) -> None:
        self.into.append(trace)


def _count_calls(engine: Engine, model: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each chat/stream call that reaches ``model``'s provider; the real provider still runs."""
    provider = engine.providers[model]
    calls: list[str] = []
    chat, stream = provider.chat, provider.stream

    async def counted_chat(request: ChatRequest, **kw: Any) -> Any:
        calls.append("chat")
        return await chat(request, **kw)

    def counted_stream(request: ChatRequest, **kw: Any) -> Any:
        calls.append("stream")
        return stream(request, **kw)

    monkeypatch.setattr(provider, "chat", counted_chat)
    monkeypatch.setattr(provider, "stream", counted_stream)
    return calls


@pytest.mark.parametrize(("attempts", "retries"), [(3, 2), (1, 0)], ids=["retried", "not-retried"])
async def test_retry_then_fallback_serves(make_engine: MakeEngine, mode: Mode, attempts: int, retries: int) -> None:
    engine = make_engine(
        BASE
        + f"""
resilience:
  fallbacks: {{flaky: [backup]}}
  retry: {{attempts: {attempts}, base_delay_ms: 1, max_delay_ms: 2}}
"""
    )
    done = await ask_engine(engine, req(model="flaky"), mode)
    assert done.model == "backup" and done.text.startswith("[simulated backup]") and done.usage_seen
    tried = [(a.model, a.status, a.error_kind) for a in done.trace.attempts]
    assert tried == [("flaky", "error", "server")] * attempts + [("backup", "ok", None)]
    assert kinds(done.trace) == ["retry"] * retries + ["fallback"]
    fallback = done.trace.events[-1]
    assert fallback.data["from_model"] == "flaky" and fallback.data["to_model"] == "backup"
    cost = done.trace.cost_usd
    assert cost == pytest.approx(done.trace.attempts[-1].cost_usd) and cost > 0
    assert done.trace.status == "ok" and done.trace.answered_by == "backup"


async def test_router_chain_applies_to_the_model_it_chose(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(BASE + "resilience:\n  fallbacks: {default: [big]}\n")
    done = await ask_engine(engine, req(model="default"), mode)
    assert done.model == "big"
    assert done.trace.events[-1].data["chain"] == "default"


async def test_error_kind_not_in_fallback_on_is_raised(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        BASE.replace("failure_rate: 1.0,", "failure_rate: 1.0, failure_kind: content_filtered,")
        + """
resilience:
  fallbacks: {flaky: [backup]}
  fallback_on: [server, timeout]
  retry: {attempts: 3, base_delay_ms: 1}
  safe_default: {enabled: true}
"""
    )
    with pytest.raises(ContentFilteredError):
        await ask_engine(engine, req(model="flaky"), mode)
    # Not retried (never for content_filtered), no fallback, and no apology for the caller's own content.


async def test_safe_default_when_every_path_fails(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        BASE
        + """
resilience:
  fallbacks: {flaky: [backup]}
  safe_default: {enabled: true, message: "Sorry, try again later. [safe-default]"}
"""
    )
    engine.providers["backup"].options = engine.providers["flaky"].options  # type: ignore[attr-defined]
    done = await ask_engine(engine, req(model="flaky"), mode)
    assert done.text == "Sorry, try again later. [safe-default]"
    assert done.finish_reason == "safe_default" and done.model == "modelyard/safe-default"
    assert done.trace.status == "safe_default" and done.trace.error_kind == "server"
    assert [a.model for a in done.trace.attempts] == ["flaky", "backup"]
    assert done.trace.cost_usd == 0.0


async def test_without_safe_default_the_error_reaches_the_caller(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(BASE)
    with pytest.raises(UpstreamServerError):
        await ask_engine(engine, req(model="flaky"), mode)


async def test_breaker_opens_and_family_selection_skips_the_model(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    traces: list[RequestTrace] = []
    engine = make_engine(
        BASE + "resilience:\n  breaker: {failure_threshold: 2, cooldown_s: 60}\n", listeners=[_Traces(traces)]
    )
    calls = _count_calls(engine, "flaky", monkeypatch)
    call = "chat" if mode == "non-stream" else "stream"
    for _ in range(2):
        with pytest.raises(UpstreamServerError):
            await ask_engine(engine, req(model="slm"), mode)  # cheapest slm is flaky
    assert engine.resilience is not None
    board = engine.resilience.calls.breakers
    assert board.states()["flaky"] == "open"
    assert board.transitions[("flaky", "closed", "open")] == 1
    done = await ask_engine(engine, req(model="slm"), mode)
    assert done.model == "backup" and done.trace.decision is not None
    rejected = {c.name: c.reason for c in done.trace.decision.candidates if not c.accepted}
    assert rejected["flaky"].startswith("circuit breaker open (2 consecutive failures)")
    assert calls == [call, call]  # the two failures that opened it; the third request went elsewhere
    # Naming the open model directly is refused without calling it, with the cool-down left as Retry-After.
    with pytest.raises(UpstreamServerError, match="circuit breaker") as refused:
        await ask_engine(engine, req(model="flaky"), mode)
    assert 55 < refused.value.retry_after <= 60  # type: ignore[attr-defined]
    assert calls == [call, call]  # the refused request did not reach the provider
    assert traces[-1].requested_model == "flaky" and traces[-1].status == "error"
    assert traces[-1].attempts == [] and kinds(traces[-1]) == ["breaker_reject"]


async def test_rules_router_takes_llm_when_moe_breaker_is_open(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        BASE.replace(
            "moe-a:   {family: moe, provider: sim, options: {",
            "moe-a:   {family: moe, provider: sim, options: {failure_rate: 1.0, ",
        )
        + "resilience:\n  breaker: {failure_threshold: 1, cooldown_s: 60}\n"
    )
    with pytest.raises(UpstreamServerError):
        await ask_engine(engine, req(model="healthy-moe"), mode)
    done = await ask_engine(engine, req(model="healthy-moe"), mode)
    decision = done.trace.decision
    assert done.model == "big" and decision is not None and decision.family is not None
    assert decision.family.value == "llm"


async def test_tenant_rate_limit_answers_429_with_retry_after(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(BASE + "resilience:\n  limits: {tenants: {acme: {rpm: 2}}}\n")
    hints = RoutingHints(tenant="acme")
    for _ in range(2):
        await ask_engine(engine, req(model="backup", hints=hints), mode)
    with pytest.raises(RateLimitExceededError) as info:
        await ask_engine(engine, req(model="backup", hints=hints), mode)
    assert info.value.status_code == 429 and info.value.retry_after == pytest.approx(30.0, rel=0.05)
    await ask_engine(engine, req(model="backup", hints=RoutingHints(tenant="other")), mode)  # others unaffected


async def test_model_rate_limit_skips_to_fallback(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        BASE
        + """
resilience:
  fallbacks: {backup: [big]}
  limits: {models: {backup: {rpm: 1, on_limit: skip}}}
"""
    )
    first = await ask_engine(engine, req(model="backup"), mode)
    second = await ask_engine(engine, req(model="backup"), mode)
    assert (first.model, second.model) == ("backup", "big")
    assert second.trace.events[-1].data["error_kind"] == "rate_limited"
    assert [a.model for a in second.trace.attempts] == ["big"]  # backup was never called
    assert engine.availability.unavailable_reason("backup") == "at its rpm rate limit"


async def test_hedge_races_a_slow_primary_and_accounts_both(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        """
version: 1
models:
  slow:
    {family: slm, provider: sim, price: {input: 1, output: 1}, options: {latency_ms: 2000, output_tokens: 5}}
  fast: {family: slm, provider: sim, price: {input: 1, output: 1}, options: {latency_ms: 5, output_tokens: 5}}
routers: {default: {kind: fixed, target: slow}}
resilience:
  hedge: {slow: {alternative: fast, after_ms: 30}}
"""
    )
    started = time.perf_counter()
    done = await ask_engine(engine, req(model="slow"), mode)
    elapsed = time.perf_counter() - started
    assert done.model == "fast" and elapsed < 0.5
    by_model = {a.model: a for a in done.trace.attempts}
    assert by_model["slow"].status == "cancelled" and by_model["fast"].purpose == "hedge"
    assert by_model["slow"].cost_usd > 0  # the cancelled racer's prompt is charged (estimate)
    assert done.trace.cost_usd == pytest.approx(by_model["slow"].cost_usd + by_model["fast"].cost_usd)
    assert kinds(done.trace) == ["hedge", "hedge_won"]
    assert engine.resilience is not None
    assert engine.resilience.calls.breakers.states()["slow"] == "closed"


async def test_retry_after_longer_than_deadline_is_not_waited_for(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(
        BASE.replace("failure_rate: 1.0,", "failure_rate: 1.0, failure_kind: rate_limited,").replace(
            "backup:  {family: slm,", "backup:  {latency_p50_ms: 50, family: slm,"
        )
        + """
resilience:
  fallbacks: {flaky: [backup]}
  retry: {attempts: 5, base_delay_ms: 1}
"""
    )
    started = time.perf_counter()
    done = await ask_engine(engine, req(model="flaky", hints=RoutingHints(latency_budget_ms=400)), mode)
    assert done.model == "backup" and time.perf_counter() - started < 0.3
    assert [a.model for a in done.trace.attempts] == ["flaky", "backup"]  # Retry-After 1 s > budget


async def test_per_request_max_cost_is_enforced(make_engine: MakeEngine, mode: Mode) -> None:
    engine = make_engine(BASE)
    too_little = RoutingHints(max_cost_usd=0.0001)
    with pytest.raises(BudgetExceededError, match="max_cost"):
        await ask_engine(engine, req(model="backup", max_tokens=100, hints=too_little), mode)
    done = await ask_engine(engine, req(model="backup", max_tokens=5, hints=RoutingHints(max_cost_usd=1.0)), mode)
    assert done.trace.cost_usd <= 1.0


async def test_over_budget_routes_to_a_cheaper_model(make_engine: MakeEngine, mode: Mode) -> None:
    config = """
version: 1
models:
  pricey: {family: slm, provider: sim, price: {output: 100}, options: {output_tokens: 10}}
  cheap:  {family: slm, provider: sim, price: {output: 1}, options: {output_tokens: 10}}
routers: {default: {kind: fixed, target: pricey}}
resilience:
  budgets: {tenants: {"*": {daily_usd: 0.5}}, on_exceeded: %s}
"""
    hints = RoutingHints(tenant="t1")
    rejecting = make_engine(config % "reject")
    with pytest.raises(BudgetExceededError) as info:
        await ask_engine(rejecting, req(model="pricey", max_tokens=10, hints=hints), mode)
    assert info.value.status_code == 402
    cheaper = make_engine(config % "cheaper")
    done = await ask_engine(cheaper, req(model="pricey", max_tokens=10, hints=hints), mode)
    assert done.model == "cheap" and "budget" in kinds(done.trace)
    assert cheaper.resilience is not None
    spent = await cheaper.resilience.calls.budget.spent("t1")
    assert spent["daily"] == pytest.approx(done.trace.cost_usd) and done.trace.cost_usd == pytest.approx(0.01)


async def test_budget_200_concurrent_requests_never_overspend_in_process(make_engine: MakeEngine, mode: Mode) -> None:
    # Each call costs exactly $0.02 (10 output tokens at $2/1k, worst case == actual): $1 allows 50.
    engine = make_engine(
        """
version: 1
models:
  m: {family: slm, provider: sim, price: {output: 2}, options: {latency_ms: 20, output_tokens: 10}}
routers: {default: {kind: fixed, target: m}}
resilience:
  budgets: {tenants: {acme: {daily_usd: 1.0}}}
"""
    )
    hints = RoutingHints(tenant="acme")
    results = await asyncio.gather(
        *(ask_engine(engine, req(model="m", max_tokens=10, hints=hints), mode) for _ in range(200)),
        return_exceptions=True,
    )
    served = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert len(served) == 50 and len(refused) == 150
    assert engine.resilience is not None
    spent = await engine.resilience.calls.budget.spent("acme")
    assert spent["daily"] == pytest.approx(1.0) and sum(s.trace.cost_usd for s in served) == pytest.approx(1.0)
