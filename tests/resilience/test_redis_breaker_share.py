"""Breakers shared through Redis without a round trip per request (issue 14, item 2).

Several `BreakerBoard`s (or engines), each with its own Redis client, over one real
redis-server stand for several gateway processes. A closed breaker admits from each
process's view of the shared record (re-read at most every ``refresh_ms``) and counts
successes locally, writing them every ``flush_ms``; failures are written at once;
open-after-cool-down and half-open go through the atomic update. These tests pin the
bounds the docs state (`modelyard.resilience.breaker`, docs/resilience.md) and the
Redis commands a steady-state request costs, counted by the server (INFO commandstats).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from modelyard.config.resilience import BreakerSettings, ResilienceSettings, StateSettings
from modelyard.engine import Engine
from modelyard.resilience.breaker import BreakerBoard
from modelyard.resilience.state import StateUnavailableError
from modelyard.resilience.state.redis import RedisState
from modelyard.testing import LoopbackUpstream
from modelyard.types import ChatRequest
from tests.resilience.conftest import redis_process
from tests.resilience.modes import Mode, ask_gateway
from tests.server.server_harness import running

REFRESH_S = 0.2
FLUSH_S = 0.05
DEFAULT_REFRESH_S, DEFAULT_FLUSH_S = 0.25, 0.1  # state.refresh_ms, state.flush_ms
MakeBoards = Callable[..., list[BreakerBoard]]


@pytest.fixture
async def make_boards(redis_server: str, redis_prefix: str) -> AsyncIterator[MakeBoards]:
    """``make(n, clock=..., flush_ms=..., **breaker)``: n boards for model ``m``, one Redis client each."""
    made: list[tuple[BreakerBoard, RedisState]] = []

    def make(n: int, *, clock: Callable[[], float] = time.time, flush_ms: float = FLUSH_S * 1000, **breaker: Any):
        settings = ResilienceSettings(
            breaker=BreakerSettings(**breaker),
            state=StateSettings(backend="redis", url=redis_server, refresh_ms=REFRESH_S * 1000, flush_ms=flush_ms),
        )
        boards = []
        for _ in range(n):
            client = RedisState(redis_server, prefix=redis_prefix)
            board = BreakerBoard(settings, ["m"], client, clock=clock)
            made.append((board, client))
            boards.append(board)
        return boards

    yield make
    for board, client in made:
        await board.aclose()
        await client.aclose()


async def stored(board: BreakerBoard) -> dict[str, Any]:
    """The shared record as Redis holds it now (a fresh read, not the board's view); {} if none yet."""
    (rec,) = await board._state.read_json(["breaker:m"])
    return rec or {"state": "closed", "buckets": []}


def successes(rec: dict[str, Any]) -> int:
    return sum(b[1] for b in rec["buckets"])


def failures(rec: dict[str, Any]) -> int:
    return sum(b[2] for b in rec["buckets"])


async def test_failures_in_one_process_open_the_breaker_for_the_other_within_refresh_ms(
    make_boards: MakeBoards,
) -> None:
    one, two = make_boards(2, failure_threshold=3, cooldown_s=30)
    for board in (one, two):  # both hold a fresh view of the closed breaker
        assert (await board["m"].admit()).allowed
    for _ in range(3):
        await one["m"].record("failure", await one["m"].admit())
    opened = time.monotonic()
    assert one["m"].state == "open" and (await stored(one))["state"] == "open"  # written at once
    assert not (await one["m"].admit()).allowed  # and refused at once where it opened
    late = []
    while True:
        asked = time.monotonic()
        admission = await two["m"].admit()
        if not admission.allowed:
            break
        assert asked - opened < REFRESH_S + 0.02, "admitted on a view older than refresh_ms"
        late.append(admission)
        await asyncio.sleep(0.01)
    assert time.monotonic() - opened < REFRESH_S + 1.0
    assert admission.state == "open" and admission.retry_in > 25
    for admitted in late:  # calls admitted on the old view report under the old generation: ignored
        await two["m"].record("success", admitted)
    await two.flush()
    assert (await stored(two))["state"] == "open"


async def test_successes_of_both_processes_count_in_the_failure_rate(make_boards: MakeBoards) -> None:
    one, two = make_boards(2, failure_threshold=100, failure_rate=0.5, min_calls=10, window_s=60)
    for board in (one, two):
        for _ in range(6):
            await board["m"].record("success", await board["m"].admit())
    assert successes(await stored(one)) < 12  # not written per request ...
    await asyncio.sleep(FLUSH_S * 4)
    assert successes(await stored(one)) == 12  # ... but in the background within flush_ms
    # 12 successes seen from both: the failure rate reaches 0.5 at the 12th failure, not the 6th
    for n in range(1, 13):
        board = (one, two)[n % 2]
        moved = await board["m"].record("failure", await board["m"].admit())
        assert (moved is not None) == (n == 12), n
    rec = await stored(one)
    assert rec["state"] == "open" and "12/24" in rec["reason"]


async def test_pending_successes_are_written_with_a_failure(make_boards: MakeBoards) -> None:
    (one,) = make_boards(1, flush_ms=60_000)  # no background write during the test
    for _ in range(3):
        await one["m"].record("success", await one["m"].admit())
    await one["m"].record("failure", await one["m"].admit())
    rec = await stored(one)
    assert (successes(rec), failures(rec), rec["consec"]) == (3, 1, 1)


@pytest.mark.parametrize(
    ("success_at", "opens"),
    [(100.0, True), (101.5, False)],
    ids=["success-before-the-failures-ends-nothing", "success-between-them-ends-the-run"],
)
async def test_a_success_written_late_ends_only_the_failures_before_it(
    make_boards: MakeBoards, success_at: float, opens: bool
) -> None:
    """``two`` counts a success; ``one`` writes failures at 101, 102 and 103 (3 in a row open it);
    ``two``'s success reaches Redis between the second and the third."""
    clock = [success_at]
    one, two = make_boards(2, clock=lambda: clock[0], flush_ms=60_000, failure_threshold=3, min_calls=100)
    await two["m"].record("success", await two["m"].admit())
    for at in (101.0, 102.0):
        clock[0] = at
        await one["m"].record("failure", await one["m"].admit())
    clock[0] = 102.5
    await two.flush()
    clock[0] = 103.0
    moved = await one["m"].record("failure", await one["m"].admit())
    assert (moved is not None and moved.new == "open") == opens
    assert successes(await stored(one)) == 1  # counted in the window either way


@pytest.mark.parametrize("probes", [1, 2])
async def test_half_open_probes_are_limited_across_processes(make_boards: MakeBoards, probes: int) -> None:
    boards = make_boards(4, failure_threshold=1, cooldown_s=0.3, half_open_probes=probes)
    first = boards[0]["m"]
    await first.record("failure", await first.admit())
    for board in boards:
        assert not (await board["m"].admit()).allowed  # open, cooling down: refused from the view
    await asyncio.sleep(0.35)
    asked = await asyncio.gather(*(board["m"].admit() for board in boards for _ in range(3)))
    probes_out = [(i // 3, a) for i, a in enumerate(asked) if a.allowed]
    assert len(probes_out) == probes and all(a.probe for _, a in probes_out)
    for i, admission in probes_out:
        await boards[i]["m"].record("success", admission)
    assert (await stored(boards[0]))["state"] == "closed"
    await asyncio.sleep(REFRESH_S)
    after = [await board["m"].admit() for board in boards]
    assert all(a.allowed and a.state == "closed" for a in after)
    assert [board["m"].state for board in boards] == ["closed"] * 4


async def test_processes_requests_arriving_together_share_one_read(
    make_boards: MakeBoards, redis_server: str
) -> None:
    redis = pytest.importorskip("redis")
    (board,) = make_boards(1)
    await board.refresh(force=True)
    await asyncio.sleep(REFRESH_S)  # the view is stale now
    client = redis.Redis.from_url(redis_server)
    try:
        before = commandstats(client).get("mget", 0)
        asked = await asyncio.gather(*(board["m"].admit() for _ in range(16)), board.refresh())
        assert commandstats(client).get("mget", 0) - before == 1
    finally:
        client.close()
    assert all(a.allowed for a in asked[:16])


async def test_after_a_failed_write_the_next_admission_asks_redis() -> None:
    """A young view is not trusted once a write has failed: the next admission asks Redis (503)."""
    with redis_process() as (url, redis):
        client = RedisState(url, prefix="failed-write")
        settings = ResilienceSettings(state=StateSettings(backend="redis", url=url, refresh_ms=60_000))
        board = BreakerBoard(settings, ["m"], client)
        try:
            breaker = board["m"]
            admitted = await breaker.admit()
            redis.kill()
            redis.wait(timeout=10)
            assert (await breaker.admit()).allowed  # the view is young: no round trip
            with pytest.raises(StateUnavailableError):
                await breaker.record("failure", admitted)
            with pytest.raises(StateUnavailableError):
                await breaker.admit()
            with pytest.raises(StateUnavailableError):
                await board.refresh()  # the door's pull too, though it pulled a moment ago
        finally:
            await board.aclose()
            await client.aclose()


BENCH_LIKE = """
version: 1
models:
  primary: {{family: llm, provider: sim, price: {{input: 1, output: 1}}, options: {{output_tokens: 5}}}}
  backup: {{family: llm, provider: sim, options: {{output_tokens: 5}}}}
routers: {{default: {{kind: fixed, target: primary}}}}
resilience:
  retry: {{attempts: 2, base_delay_ms: 20}}
  breaker: {{enabled: true, failure_threshold: 5}}
  fallbacks: {{primary: [backup]}}
  safe_default: {{enabled: true}}
  state: {{backend: redis, url: "{url}", prefix: count{state}}}
{extra}"""


def commandstats(client: Any) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in client.info("commandstats").items()}


@pytest.mark.parametrize(
    ("state", "extra", "low", "high"),
    [
        ("", "", 0, 0),  # bench/vs_litellm.py's resilience: no limits, no budgets
        # every admission and outcome atomic (the old way): MGET at the door, GET; GET + CAS script
        # (GET, SET inside) — and more when the two engines' compare-and-sets collide
        (", refresh_ms: 0, flush_ms: 0", "", 6, None),
        ("", '  budgets: {tenants: {"*": {daily_usd: 1000}}}', 9, 9),  # MGET; reserve script; MULTI adjust
        ("", '  limits: {tenants: {"*": {rpm: 1000000}}}', 5, 5),  # bucket script: TIME, HMGET, HSET, EXPIRE
        # two bucket scripts, and a third to charge the tokens actually used
        ("", "  limits: {models: {primary: {rpm: 1000000, tpm: 100000000}}}", 15, 15),
    ],
    ids=["breaker-only", "breaker-every-call-atomic", "tenant-budget", "tenant-rpm-limit", "model-rpm-tpm-limit"],
)
async def test_redis_commands_per_steady_state_request(
    make_engine: Callable[..., Engine], state: str, extra: str, low: int, high: int | None
) -> None:
    """Two engines on one redis-server, 16 requests at a time: commands the server ran per request.

    Counted by Redis (INFO commandstats, commands inside Lua scripts included) after a warm-up:
    between ``low`` and ``high`` per request, plus what runs on a timer and not per request —
    each engine re-reads its breaker view every refresh_ms (one MGET) and writes each model's
    successes every flush_ms (GET, then the CAS script with GET and SET inside: 4).
    """
    redis = pytest.importorskip("redis")
    with redis_process() as (url, _):
        engines = [make_engine(BENCH_LIKE.format(url=url, state=state, extra=extra)) for _ in range(2)]
        request = ChatRequest.from_text("hello there", model="default")
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                reply = await engines[i % 2].chat(request)
                assert reply.model == "primary"

        await asyncio.gather(*(one(i) for i in range(64)))  # warm-up: connections, scripts, views
        client = redis.Redis.from_url(url)
        try:
            client.config_resetstat()
            n = 1000
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            elapsed = time.monotonic() - started
            counted = commandstats(client)
        finally:
            client.close()
    counted.pop("config|resetstat", None)
    total = sum(counted.values())
    background = 2 * (elapsed / DEFAULT_REFRESH_S + 2) + 2 * (elapsed / DEFAULT_FLUSH_S + 2) * 4
    allowance = 0.02 * n + background
    print(f"{total / n:.3f} Redis commands per request ({total} in {elapsed:.2f}s): {counted}")
    assert total >= low * n, counted
    if high is not None:
        assert total <= high * n + allowance, counted


def test_redis_lost_breaker_only_fails_closed_within_refresh_ms(mode: Mode) -> None:
    """With only breakers in Redis, a gateway answers on its view for at most refresh_ms after Redis
    goes away; from the first 503 on every request is 503 and the upstream (real loopback server)
    gets nothing — as with budgets or limits configured, which need Redis on every request
    (test_redis_fail_closed.py)."""
    with LoopbackUpstream.running_in_thread() as upstream, redis_process() as (url, redis):
        config = f"""
version: 1
models:
  up: {{family: llm, provider: openai, base_url: "{upstream.url}/v1"}}
routers: {{default: {{kind: fixed, target: up}}}}
resilience:
  state: {{backend: redis, url: "{url}", prefix: lost, refresh_ms: {REFRESH_S * 1000}}}
"""
        with running(config) as gateway:
            for _ in range(3):
                assert ask_gateway(gateway.url, mode, max_tokens=5).status == 200
            redis.kill()
            redis.wait(timeout=10)
            killed = time.monotonic()
            while (reply := ask_gateway(gateway.url, mode, max_tokens=5)).status == 200:
                assert time.monotonic() - killed < REFRESH_S + 1.0, "answered long after Redis went away"
            assert time.monotonic() - killed < REFRESH_S + 1.0
            upstream.clear_requests()
            for _ in range(3):
                assert reply.status == 503, reply
                assert reply.error is not None and reply.error["type"] == "service_unavailable"
                assert "shared state store unavailable" in reply.error["message"]
                assert url.split("//")[1] not in reply.error["message"]
                reply = ask_gateway(gateway.url, mode, max_tokens=5)
            assert upstream.requests == []  # nothing ran after the first 503
            assert gateway.traces.items[-1].attempts == []
