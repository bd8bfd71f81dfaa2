"""The Redis state backend against a real redis-server (started by the session fixture)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from modelyard.engine import Engine
from modelyard.errors import BudgetExceededError, UpstreamServerError
from modelyard.resilience.state.redis import RedisState
from modelyard.types import ChatRequest, RoutingHints

MakeEngine = Callable[..., Engine]
WORKER = Path(__file__).with_name("budget_worker.py")


@pytest.fixture
async def state(redis_server: str, redis_prefix: str) -> AsyncIterator[RedisState]:
    backend = RedisState(redis_server, prefix=redis_prefix)
    yield backend
    await backend.aclose()


async def test_bucket_is_atomic_under_concurrency(state: RedisState) -> None:
    results = await asyncio.gather(*(state.bucket_take("b", 10, 0.001, 1) for _ in range(40)))
    assert sum(r.allowed for r in results) == 10
    denied = next(r for r in results if not r.allowed)
    assert denied.wait_s == pytest.approx(1000.0, rel=0.01) and denied.level < 1
    # force charges past zero; a negative amount gives back, capped at capacity
    assert (await state.bucket_take("b", 10, 0.001, 5, force=True)).level < -4
    assert (await state.bucket_take("b", 10, 0.001, -100, force=True)).level == pytest.approx(10, abs=0.01)


async def test_reserve_is_all_or_nothing(state: RedisState) -> None:
    ok = await state.reserve(["day", "month"], [100, 1000], 60, [60, 60])
    assert ok.ok and ok.used == (60, 60)
    refused = await state.reserve(["day", "month"], [100, 1000], 50, [60, 60])
    assert not refused.ok and refused.used == (60, 60)
    assert await state.counters(["day", "month", "none"]) == [60, 60, 0]
    await state.adjust(["day", "month"], -10, [60, 60])
    assert await state.counters(["day", "month"]) == [50, 50]


async def test_update_json_serialises_contending_writers(redis_server: str, redis_prefix: str) -> None:
    clients = [RedisState(redis_server, prefix=redis_prefix) for _ in range(4)]

    def bump(old: dict | None) -> tuple[dict, int]:  # type: ignore[type-arg]
        n = (old or {"n": 0})["n"] + 1
        return {"n": n}, n

    seen = await asyncio.gather(*(c.update_json("rec", bump, 60) for c in clients for _ in range(10)))
    assert sorted(seen) == list(range(1, 41))
    assert (await clients[0].read_json(["rec"]))[0] == {"n": 40}
    for c in clients:
        await c.aclose()


def _config(url: str, prefix: str, extra: str = "") -> str:
    return f"""
version: 1
models:
  m: {{family: slm, provider: sim, price: {{output: 2}}, options: {{latency_ms: 20, output_tokens: 10}}}}
  flaky: {{family: slm, provider: sim, options: {{failure_rate: 1.0}}}}
routers: {{default: {{kind: fixed, target: m}}}}
resilience:
  budgets: {{tenants: {{acme: {{daily_usd: 1.0}}}}}}
  breaker: {{failure_threshold: 2, cooldown_s: 60}}
  state: {{backend: redis, url: "{url}", prefix: "{prefix}", refresh_ms: 0}}
{extra}"""


async def test_budget_200_concurrent_never_overspends_with_redis(
    make_engine: MakeEngine, redis_server: str, redis_prefix: str
) -> None:
    engine = make_engine(_config(redis_server, redis_prefix))
    request = ChatRequest.from_text("x", model="m", max_tokens=10, hints=RoutingHints(tenant="acme"))
    results = await asyncio.gather(*(engine.chat(request) for _ in range(200)), return_exceptions=True)
    served = [r for r in results if not isinstance(r, BaseException)]
    assert len(served) == 50
    assert all(isinstance(r, BudgetExceededError) for r in results if isinstance(r, BaseException))
    assert engine.resilience is not None
    assert (await engine.resilience.calls.budget.spent("acme"))["daily"] == pytest.approx(1.0)


async def test_two_processes_share_one_budget(
    make_engine: MakeEngine, redis_server: str, redis_prefix: str
) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), redis_server, redis_prefix, "100", stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    rows = [out.decode().split() for out, _ in outputs]
    served = sum(int(r[0]) for r in rows)
    refused = sum(int(r[1]) for r in rows)
    spent = sum(float(r[2]) for r in rows)
    assert served == 50 and refused == 150 and spent == pytest.approx(1.0)
    engine = make_engine(_config(redis_server, redis_prefix))
    assert engine.resilience is not None
    assert (await engine.resilience.calls.budget.spent("acme"))["daily"] == pytest.approx(1.0)


async def test_breaker_opened_by_one_instance_is_seen_by_another(
    make_engine: MakeEngine, redis_server: str, redis_prefix: str
) -> None:
    one = make_engine(_config(redis_server, redis_prefix))
    two = make_engine(_config(redis_server, redis_prefix))
    for _ in range(2):
        with pytest.raises(UpstreamServerError):
            await one.chat(ChatRequest.from_text("x", model="flaky"))
    done = await two.chat(ChatRequest.from_text("x", model="slm"))  # flaky (free) would be cheapest
    assert done.model == "m"
    rejected = {c.name: c.reason for c in done.decision.candidates if not c.accepted}
    assert rejected["flaky"].startswith("circuit breaker open")
    assert two.resilience is not None and two.resilience.calls.breakers.states()["flaky"] == "open"
