"""Fault injection over real sockets: two loopback upstreams, a primary that misbehaves on a
script and a healthy backup, behind the full resilient call path.

For each fault: what the client receives, what was retried, which fallback
served, the breaker state and the recorded cost.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from modelyard.engine import Engine
from modelyard.errors import ConnectionFailedError, ProviderError
from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault
from modelyard.types import ChatRequest

MakeEngine = Callable[..., Engine]
PATH = "/v1/chat/completions"


@dataclass
class Rig:
    engine: Engine
    primary: LoopbackUpstream
    backup: LoopbackUpstream

    def state(self) -> str:
        assert self.engine.resilience is not None
        return self.engine.resilience.calls.breakers.states()["primary"]


def _config(primary_url: str, backup_url: str, extra: str = "") -> str:
    return f"""
version: 1
models:
  primary:
    family: llm
    provider: openai
    base_url: "{primary_url}/v1"
    timeout_s: 0.4
    price: {{input: 1, output: 2}}
  backup:
    family: llm
    provider: openai
    base_url: "{backup_url}/v1"
    timeout_s: 2
    price: {{input: 3, output: 4}}
routers: {{default: {{kind: fixed, target: primary}}}}
resilience:
  fallbacks: {{primary: [backup]}}
  retry: {{attempts: 2, base_delay_ms: 5, max_delay_ms: 20}}
  breaker: {{failure_threshold: 3, cooldown_s: 0.3, half_open_probes: 1}}
  safe_default: {{enabled: true, message: "[safe-default] sorry"}}
{extra}"""


@pytest.fixture
async def rig(make_engine: MakeEngine) -> AsyncIterator[Rig]:
    async with LoopbackUpstream() as primary, LoopbackUpstream() as backup:
        yield Rig(make_engine(_config(primary.url, backup.url)), primary, backup)


def req(text: str = "one two three", **kw: object) -> ChatRequest:
    return ChatRequest.from_text(text, model="primary", **kw)  # type: ignore[arg-type]


def errors(trace: object, model: str = "primary") -> list[str | None]:
    return [a.error_kind for a in trace.attempts if a.model == model]  # type: ignore[attr-defined]


async def all_closed(*upstreams: LoopbackUpstream) -> bool:
    """Wait for the upstreams to see their clients hang up (a sleeping fault notices when it wakes)."""
    for _ in range(300):
        if all(up.open_connections == 0 for up in upstreams):
            return True
        await asyncio.sleep(0.01)
    return False


def backup_cost(trace: object) -> float:
    (ok,) = [a for a in trace.attempts if a.status == "ok"]  # type: ignore[attr-defined]
    assert ok.model == "backup" and ok.usage.input_tokens > 0
    return ok.usage.input_tokens / 1000 * 3 + ok.usage.output_tokens / 1000 * 4


@pytest.mark.parametrize(
    ("fault", "kind", "tries"),
    [
        (Fault(status=500, times=None), "server", 2),
        (Fault(status=502, times=None), "server", 2),
        (Fault(status=503, times=None), "server", 2),
        (Fault(status=429, times=None), "rate_limited", 2),  # no Retry-After: backoff
        (Fault(latency_ms=3000, times=None), "timeout", 2),
        (Fault(connection_reset=True, times=None), "connection", 2),
        (Fault(malformed_json=True, times=None), "malformed", 1),  # not retried by default
    ],
    ids=["500", "502", "503", "429-no-retry-after", "timeout", "reset", "malformed-json"],
)
async def test_persistent_fault_is_retried_then_falls_back(
    rig: Rig, fault: Fault, kind: str, tries: int
) -> None:
    rig.primary.faults.add(fault)
    done = await rig.engine.chat(req())

    assert done.model == "backup" and done.text == "echo: one two three"
    assert errors(done.trace) == [kind] * tries
    assert len(rig.primary.requests) == tries and len(rig.backup.requests) == 1
    assert [e.kind for e in done.trace.events] == ["retry"] * (tries - 1) + ["fallback"]
    assert rig.state() == "closed"  # 1-2 failures, threshold 3
    assert done.cost_usd == pytest.approx(backup_cost(done.trace))
    assert all(a.cost_usd == 0 for a in done.trace.attempts if a.model == "primary")


async def test_429_with_retry_after_is_honoured_and_recovers(rig: Rig) -> None:
    rig.primary.faults.add(Fault(status=429, retry_after=0.15, times=1))
    started = time.perf_counter()
    done = await rig.engine.chat(req())
    assert time.perf_counter() - started >= 0.15
    assert done.model == "primary" and errors(done.trace) == ["rate_limited", None]
    retry = done.trace.events[0]
    assert retry.kind == "retry" and retry.data["delay_ms"] >= 150
    assert len(rig.backup.requests) == 0 and rig.state() == "closed"
    ok = done.trace.attempts[-1]
    assert done.cost_usd == pytest.approx(
        ok.usage.input_tokens / 1000 * 1 + ok.usage.output_tokens / 1000 * 2
    )


async def test_connection_refused_falls_back(make_engine: MakeEngine) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        async with LoopbackUpstream() as backup:
            engine = make_engine(_config(dead, backup.url))
            done = await engine.chat(req())
    assert done.model == "backup" and errors(done.trace) == ["connection", "connection"]
    assert done.cost_usd == pytest.approx(backup_cost(done.trace))


async def test_mid_stream_drop_ends_the_stream_with_a_recorded_error(rig: Rig) -> None:
    rig.primary.faults.add(Fault(drop_mid_stream=2, times=1))
    session = await rig.engine.stream(req("alpha beta gamma delta epsilon zeta", stream=True))
    received: list[str] = []
    with pytest.raises(ConnectionFailedError):
        async for chunk in session:
            received.append(chunk.text)
    assert "".join(received) and not "".join(received).endswith("zeta")  # some, not all
    trace = session.trace
    assert trace.status == "error" and trace.error_kind == "connection"
    assert [e.kind for e in trace.events] == ["stream_error"]
    assert len(rig.backup.requests) == 0  # no fallback once tokens went out
    assert errors(trace) == ["connection"]


async def test_failure_before_first_token_falls_back_transparently(rig: Rig) -> None:
    rig.primary.faults.add(Fault(status=503, times=None))
    session = await rig.engine.stream(req(stream=True))
    text = "".join([c.text async for c in session])
    assert text == "echo: one two three" and session.trace.answered_by == "backup"
    assert errors(session.trace) == ["server", "server"] and session.trace.status == "ok"


async def test_slow_loris_first_byte_times_out_and_falls_back(rig: Rig) -> None:
    rig.primary.faults.add(Fault(slow_first_byte_ms=800, times=None))
    started = time.perf_counter()
    session = await rig.engine.stream(req(stream=True))
    text = "".join([c.text async for c in session])
    assert text == "echo: one two three" and time.perf_counter() - started < 1.2
    assert errors(session.trace) == ["timeout", "timeout"]
    assert await all_closed(rig.primary)  # the slow upstream connections were closed, not left running


async def test_provider_that_recovers_opens_then_closes_the_breaker(rig: Rig) -> None:
    rig.primary.faults.add(Fault(status=503, times=3))
    first = await rig.engine.chat(req())  # 2 failures (retry), backup serves
    second = await rig.engine.chat(req())  # 3rd failure opens the breaker, backup serves
    assert (first.model, second.model) == ("backup", "backup")
    assert rig.state() == "open"
    assert "breaker" in [e.kind for e in second.trace.events]
    before = len(rig.primary.requests)
    third = await rig.engine.chat(req())  # breaker open: primary not called
    assert third.model == "backup" and len(rig.primary.requests) == before == 3
    assert [a.model for a in third.trace.attempts] == ["backup"]
    await asyncio.sleep(0.35)  # cool-down
    fourth = await rig.engine.chat(req())  # half-open probe succeeds
    assert fourth.model == "primary" and rig.state() == "closed"
    assert rig.engine.resilience is not None
    moves = rig.engine.resilience.calls.breakers.transitions
    assert moves[("primary", "closed", "open")] == 1
    assert moves[("primary", "open", "half_open")] == 1 and moves[("primary", "half_open", "closed")] == 1


async def test_everything_down_gives_the_safe_default(rig: Rig) -> None:
    rig.primary.faults.add(Fault(status=500, times=None))
    rig.backup.faults.add(Fault(status=502, times=None))
    done = await rig.engine.chat(req())
    assert done.text == "[safe-default] sorry" and done.response.finish_reason == "safe_default"
    assert done.trace.status == "safe_default" and done.cost_usd == 0.0
    assert errors(done.trace) == ["server", "server"] and errors(done.trace, "backup") == ["server", "server"]


async def test_deadline_cancels_the_upstream_call(make_engine: MakeEngine) -> None:
    async with LoopbackUpstream() as primary, LoopbackUpstream() as backup:
        engine = make_engine(_config(primary.url, backup.url).replace("timeout_s: 0.4", "timeout_s: 30"))
        primary.faults.add(Fault(latency_ms=800, times=None))
        backup.faults.add(Fault(latency_ms=800, times=None))
        started = time.perf_counter()
        done = await engine.chat(req(hints={"latency_budget_ms": 300}))
        elapsed = time.perf_counter() - started
        assert done.response.finish_reason == "safe_default" and elapsed < 0.6
        assert done.trace.attempts and all(a.error_kind == "timeout" for a in done.trace.attempts)
        assert await all_closed(primary, backup)


async def test_provider_errors_never_escape_as_other_exceptions(rig: Rig) -> None:
    rig.engine.config.resilience.safe_default.enabled = False
    rig.primary.faults.add(Fault(status=500, times=None))
    rig.backup.faults.add(Fault(connection_reset=True, times=None))
    with pytest.raises(ProviderError) as info:
        await rig.engine.chat(req())
    assert info.value.kind.value == "connection"
