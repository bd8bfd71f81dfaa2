"""Fault injection over real sockets, streamed and not: client → gateway → two loopback upstreams.

A primary misbehaves on a script and a healthy backup stands by, behind the
full resilient call path of a real gateway. Every test runs in both modes
(`MODES`) and asserts what the client received — status, text, and the model
named in the ``x-modelyard-model`` header, in every chunk and in the
``modelyard`` trailer — plus what was retried, which fallback served, the
telemetry record, the breaker state and the recorded cost.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest

from modelyard.resilience import SAFE_DEFAULT_MODEL
from modelyard.telemetry.convert import record_from_trace
from modelyard.telemetry.record import Record
from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault
from modelyard.types import RequestTrace
from tests.resilience.modes import Mode, Reply, ask_gateway
from tests.server.server_harness import Gateway, running

TEXT = "one two three"
ECHO = f"echo: {TEXT}"


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


@dataclass
class Rig:
    gateway: Gateway
    primary: LoopbackUpstream
    backup: LoopbackUpstream

    def ask(self, mode: Mode, text: str = TEXT, **kw: object) -> Reply:
        return ask_gateway(self.gateway.url, mode, text, model="primary", **kw)  # type: ignore[arg-type]

    @property
    def trace(self) -> RequestTrace:
        return self.gateway.traces.items[-1]

    @property
    def record(self) -> Record:
        return record_from_trace(self.trace, self.gateway.engine.config.models, str)

    def state(self) -> str:
        resilience = self.gateway.engine.resilience
        assert resilience is not None
        return resilience.calls.breakers.states()["primary"]

    def errors(self, model: str = "primary") -> list[str | None]:
        return [a.error_kind for a in self.trace.attempts if a.model == model]

    def events(self) -> list[str]:
        return [e.kind for e in self.trace.events]

    def answered_by(self, reply: Reply, model: str) -> None:
        """Header, every chunk, trailer, trace and record all name ``model``."""
        assert reply.status == 200, reply.error
        assert reply.named() == {model}, (reply.header_model, reply.models, reply.trailer)
        assert reply.chunks >= 1
        assert self.trace.answered_by == model and self.record.model == model

    def backup_cost(self) -> float:
        (ok,) = [a for a in self.trace.attempts if a.status == "ok"]
        assert ok.model == "backup" and ok.usage.input_tokens > 0
        return ok.usage.input_tokens / 1000 * 3 + ok.usage.output_tokens / 1000 * 4


@contextmanager
def _rig(primary_url: str | None = None, extra: str = "", primary_timeout_s: float = 0.4) -> Iterator[Rig]:
    with ExitStack() as stack:
        primary = stack.enter_context(LoopbackUpstream.running_in_thread())
        backup = stack.enter_context(LoopbackUpstream.running_in_thread())
        config = _config(primary_url or primary.url, backup.url, extra)
        config = config.replace("timeout_s: 0.4", f"timeout_s: {primary_timeout_s}")
        gateway = stack.enter_context(running(config))
        yield Rig(gateway, primary, backup)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with _rig() as r:
        yield r


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    with ExitStack() as stack:
        yield lambda **kw: stack.enter_context(_rig(**kw))


def all_closed(*upstreams: LoopbackUpstream) -> bool:
    """Wait for the upstreams to see their clients hang up (a sleeping fault notices when it wakes)."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if all(up.open_connections == 0 for up in upstreams):
            return True
        time.sleep(0.01)
    return False


#: Faults before the first token: each is retried, then the backup answers — and is named everywhere.
BEFORE_FIRST_TOKEN = [
    pytest.param(Fault(status=500, times=None), "server", 2, id="500"),
    pytest.param(Fault(status=502, times=None), "server", 2, id="502"),
    pytest.param(Fault(status=503, times=None), "server", 2, id="503-issue-9-example"),
    pytest.param(Fault(status=429, times=None), "rate_limited", 2, id="429-no-retry-after"),  # backoff
    pytest.param(Fault(latency_ms=3000, times=None), "timeout", 2, id="timeout"),
    pytest.param(Fault(connection_reset=True, times=None), "connection", 2, id="reset"),
    pytest.param(Fault(malformed_json=True, times=None), "malformed", 1, id="malformed-json"),  # not retried
    pytest.param(  # the first token never comes: headers then silence (stream), no headers (non-stream)
        {"stream": Fault(slow_first_byte_ms=800, times=None), "non-stream": Fault(latency_ms=800, times=None)},
        "timeout",
        2,
        id="slow-first-byte",
    ),
]


@pytest.mark.parametrize(("fault", "kind", "tries"), BEFORE_FIRST_TOKEN)
def test_failure_before_the_first_token_falls_back_and_names_the_backup(
    rig: Rig, mode: Mode, fault: Fault | dict[str, Fault], kind: str, tries: int
) -> None:
    rig.primary.faults.add(fault[mode] if isinstance(fault, dict) else fault)
    reply = rig.ask(mode)

    assert reply.text == ECHO and reply.finish_reason == "stop"
    rig.answered_by(reply, "backup")
    assert rig.errors() == [kind] * tries
    assert len(rig.primary.requests) == tries and len(rig.backup.requests) == 1
    assert rig.events() == ["retry"] * (tries - 1) + ["fallback"]
    assert rig.state() == "closed"  # 1-2 failures, threshold 3
    assert rig.trace.cost_usd == pytest.approx(rig.backup_cost())
    assert reply.trailer is not None and reply.trailer["cost_usd"] == pytest.approx(rig.backup_cost())
    assert all(a.cost_usd == 0 for a in rig.trace.attempts if a.model == "primary")
    if kind == "timeout":
        assert all_closed(rig.primary)  # the timed-out upstream connections were closed, not left running


def test_429_with_retry_after_is_honoured_and_recovers(rig: Rig, mode: Mode) -> None:
    rig.primary.faults.add(Fault(status=429, retry_after=0.15, times=1))
    started = time.perf_counter()
    reply = rig.ask(mode)
    assert time.perf_counter() - started >= 0.15
    rig.answered_by(reply, "primary")
    assert reply.text == ECHO and rig.errors() == ["rate_limited", None]
    retry = rig.trace.events[0]
    assert retry.kind == "retry" and retry.data["delay_ms"] >= 150
    assert len(rig.backup.requests) == 0 and rig.state() == "closed"
    ok = rig.trace.attempts[-1]
    assert rig.trace.cost_usd == pytest.approx(ok.usage.input_tokens / 1000 * 1 + ok.usage.output_tokens / 1000 * 2)


def test_connection_refused_falls_back(make_rig: Callable[..., Rig], mode: Mode) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        rig = make_rig(primary_url=f"http://127.0.0.1:{s.getsockname()[1]}")
        reply = rig.ask(mode)
    rig.answered_by(reply, "backup")
    assert rig.errors() == ["connection", "connection"]
    assert rig.trace.cost_usd == pytest.approx(rig.backup_cost())


def test_provider_that_recovers_opens_then_closes_the_breaker(rig: Rig, mode: Mode) -> None:
    rig.primary.faults.add(Fault(status=503, times=3))
    rig.answered_by(rig.ask(mode), "backup")  # 2 failures (retry), backup serves
    rig.answered_by(rig.ask(mode), "backup")  # 3rd failure opens the breaker, backup serves
    assert rig.state() == "open" and "breaker" in rig.events()
    third = rig.ask(mode)  # breaker open: primary not called
    rig.answered_by(third, "backup")
    assert len(rig.primary.requests) == 3
    assert [a.model for a in rig.trace.attempts] == ["backup"]
    time.sleep(0.35)  # cool-down
    rig.answered_by(rig.ask(mode), "primary")  # the half-open probe succeeds
    assert rig.state() == "closed"
    resilience = rig.gateway.engine.resilience
    assert resilience is not None
    moves = resilience.calls.breakers.transitions
    assert moves[("primary", "closed", "open")] == 1
    assert moves[("primary", "open", "half_open")] == 1 and moves[("primary", "half_open", "closed")] == 1


def test_everything_down_gives_the_safe_default(rig: Rig, mode: Mode) -> None:
    rig.primary.faults.add(Fault(status=500, times=None))
    rig.backup.faults.add(Fault(status=502, times=None))
    reply = rig.ask(mode)
    assert reply.text == "[safe-default] sorry" and reply.finish_reason == "safe_default"
    rig.answered_by(reply, SAFE_DEFAULT_MODEL)
    assert rig.trace.status == "safe_default" and rig.trace.cost_usd == 0.0
    assert rig.errors() == ["server", "server"] and rig.errors("backup") == ["server", "server"]


def test_deadline_cancels_the_upstream_calls(make_rig: Callable[..., Rig], mode: Mode) -> None:
    rig = make_rig(primary_timeout_s=30)
    rig.primary.faults.add(Fault(latency_ms=800, times=None))
    rig.backup.faults.add(Fault(latency_ms=800, times=None))
    started = time.perf_counter()
    reply = rig.ask(mode, headers={"x-modelyard-latency-budget-ms": "300"})
    assert time.perf_counter() - started < 0.7
    assert reply.finish_reason == "safe_default"
    rig.answered_by(reply, SAFE_DEFAULT_MODEL)
    assert rig.trace.attempts and all(a.error_kind == "timeout" for a in rig.trace.attempts)
    assert all_closed(rig.primary, rig.backup)


def test_without_safe_default_the_last_error_has_its_status(rig: Rig, mode: Mode) -> None:
    rig.gateway.engine.config.resilience.safe_default.enabled = False
    rig.primary.faults.add(Fault(status=500, times=None))
    rig.backup.faults.add(Fault(connection_reset=True, times=None))
    reply = rig.ask(mode)  # streamed or not: the status is still free before the first token
    assert reply.status == 502 and reply.error is not None
    assert reply.error["code"] == "connection" and reply.error["type"] == "upstream_error"
    assert rig.trace.status == "error" and rig.record.error_kind == "connection"


def test_slow_primary_is_hedged_and_the_hedge_is_named(make_rig: Callable[..., Rig], mode: Mode) -> None:
    rig = make_rig(extra="  hedge: {primary: {alternative: backup, after_ms: 50}}\n")
    rig.primary.faults.add(Fault(latency_ms=300, times=None))  # slow, but inside its 0.4 s timeout
    started = time.perf_counter()
    reply = rig.ask(mode)
    assert time.perf_counter() - started < 0.3
    rig.answered_by(reply, "backup")
    by_model = {a.model: a for a in rig.trace.attempts}
    assert by_model["primary"].status == "cancelled" and by_model["backup"].purpose == "hedge"
    assert by_model["primary"].cost_usd > 0  # the cancelled racer's prompt is charged (estimate)
    assert rig.trace.cost_usd == pytest.approx(by_model["primary"].cost_usd + by_model["backup"].cost_usd)
    assert rig.events() == ["hedge", "hedge_won"]
    assert rig.state() == "closed" and all_closed(rig.primary)


def test_failure_after_the_first_token_ends_the_stream_with_an_error_event(rig: Rig) -> None:
    """Only a stream has an "after the first token": what was sent stays, no fallback, the error is recorded.

    (A non-streamed answer is all-or-nothing, so every failure is "before the
    first token" there — the rows above.)
    """
    rig.primary.faults.add(Fault(drop_mid_stream=3, times=1))
    reply = rig.ask("stream", "alpha beta gamma delta epsilon zeta")
    assert reply.status == 200 and reply.error is not None and reply.error["code"] == "connection"
    assert reply.text and not reply.text.endswith("zeta")  # some, not all
    assert reply.header_model == "primary" and set(reply.models) == {"primary"}
    assert rig.trace.status == "error" and rig.trace.error_kind == "connection"
    assert rig.events() == ["stream_error"] and rig.record.model == "primary"
    assert len(rig.backup.requests) == 0  # no fallback once tokens went out
    assert rig.errors() == ["connection"]
