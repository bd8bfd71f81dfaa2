"""Retry-After on every 429/503 the gateway produces itself when it knows the wait (issue 9, class 3).

One table, over real sockets: client → gateway → loopback upstream. Each row
brings the gateway to one source of "not now" — an open breaker (the issue's
example), a family whose every model is behind an open breaker, a model's and
a tenant's rate limit, a tenant budget with a daily or monthly reset, and a
gateway that is shutting down — and checks the status, that ``Retry-After``
(whole seconds, ≥ 1) and ``retry-after-ms`` are there, agree, and are
plausible for that source — streamed and not (before the first byte a stream
still has its status). Then the official OpenAI SDK, retrying on its own,
waits for the breaker's cool-down instead of hammering the open breaker.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from modelyard.testing import Fault, LoopbackUpstream
from tests.resilience.modes import Mode
from tests.server.server_harness import Gateway, running

USER = [{"role": "user", "content": "one two three"}]


def _config(url: str, resilience: str) -> str:
    return f"""
version: 1
models:
  primary:
    family: llm
    provider: openai
    base_url: "{url}/v1"
    timeout_s: 5
    price: {{input: 1, output: 2}}
routers: {{default: {{kind: fixed, target: primary}}}}
resilience:
{resilience}
"""


def _until_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    return (dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC) + dt.timedelta(days=1) - now).total_seconds()


def _until_next_month() -> float:
    now = dt.datetime.now(dt.UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return (dt.datetime(year, month, 1, tzinfo=dt.UTC) - now).total_seconds()


@dataclass(frozen=True)
class Source:
    """One way the gateway says "not now", and the wait it should announce (seconds, low..high)."""

    resilience: str
    status: int
    wait: Callable[[], tuple[float, float]]
    model: str = "primary"
    fault: Fault | None = None
    primes: int = 1  # requests that bring the gateway into the state (their own status is not checked)
    tenant: str = "t1"
    draining: bool = False


SOURCES = [
    pytest.param(
        Source(
            "  breaker: {failure_threshold: 1, cooldown_s: 30}",
            503,
            lambda: (28, 30),
            fault=Fault(status=500, times=None),
        ),
        id="breaker-open-issue-9-example",
    ),
    pytest.param(
        Source(
            "  breaker: {failure_threshold: 1, cooldown_s: 30}",
            503,
            lambda: (28, 30),
            model="llm",  # a family: every model of it is behind an open breaker
            fault=Fault(status=500, times=None),
        ),
        id="family-all-breakers-open",
    ),
    pytest.param(
        Source("  limits: {models: {primary: {rpm: 1, on_limit: skip}}}", 429, lambda: (55, 60)),
        id="model-rate-limit",
    ),
    pytest.param(
        Source('  limits: {tenants: {"*": {rpm: 2}}}', 429, lambda: (25, 30), primes=2),
        id="tenant-rate-limit",
    ),
    pytest.param(
        Source(
            '  budgets: {tenants: {"*": {daily_usd: 0.0000001}}}',
            402,
            lambda: (_until_midnight() - 5, _until_midnight() + 1),
            primes=0,
        ),
        id="tenant-daily-budget",
    ),
    pytest.param(
        Source(
            '  budgets: {tenants: {"*": {monthly_usd: 0.0000001}}}',
            402,
            lambda: (_until_next_month() - 5, _until_next_month() + 1),
            primes=0,
        ),
        id="tenant-monthly-budget",
    ),
    pytest.param(Source("  {}", 503, lambda: (2, 2), draining=True), id="shutdown-draining"),
]


@pytest.fixture
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread() as up:
        yield up


def _post(gateway: Gateway, model: str, tenant: str, mode: Mode = "non-stream") -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model, "messages": USER, "stream": mode == "stream"},
        headers={"x-modelyard-tenant": tenant},
        timeout=30,
    )


def _wait_headers(reply: httpx.Response) -> tuple[int, int]:
    seconds, ms = reply.headers.get("retry-after"), reply.headers.get("retry-after-ms")
    assert seconds is not None and ms is not None, f"no Retry-After on {reply.status_code}: {dict(reply.headers)}"
    assert seconds.isdigit() and ms.isdigit()
    assert int(seconds) >= 1 and int(seconds) == max(1, math.ceil(int(ms) / 1000))  # the same wait, rounded up
    return int(seconds), int(ms)


@pytest.mark.parametrize("source", SOURCES)
def test_every_not_now_carries_retry_after(upstream: LoopbackUpstream, source: Source, mode: Mode) -> None:
    if source.fault is not None:
        upstream.faults.add(source.fault)
    with running(_config(upstream.url, source.resilience)) as gateway:
        if source.draining:
            reply = _while_draining(gateway, upstream, mode)
        else:
            for _ in range(source.primes):
                _post(gateway, source.model, source.tenant, mode)
            reply = _post(gateway, source.model, source.tenant, mode)
    assert reply.status_code == source.status, reply.text
    seconds, ms = _wait_headers(reply)
    low, high = source.wait()
    assert low <= ms / 1000 <= high and math.floor(low) <= seconds <= math.ceil(high), (seconds, ms, low, high)


def _while_draining(gateway: Gateway, upstream: LoopbackUpstream, mode: Mode) -> httpx.Response:
    """A slow request is in flight when the shutdown begins: it still finishes, a new one is refused."""
    upstream.faults.add(Fault(latency_ms=600, times=1))
    in_flight: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: in_flight.append(_post(gateway, "primary", "t1", mode)))
    worker.start()
    deadline = time.monotonic() + 5
    while not upstream.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    gateway.app.state.drain.begin()  # what SIGTERM does first (tests/server/test_serve_cmd.py sends a real one)
    refused = _post(gateway, "primary", "t1", mode)
    health = httpx.get(f"{gateway.url}/healthz")
    worker.join(10)
    assert [r.status_code for r in in_flight] == [200]  # the request in flight was served
    assert "echo:" in in_flight[0].text  # with its answer (whole, or as stream events)
    assert health.status_code == 503 and _wait_headers(health)[0] == 2  # load balancers take it out
    assert refused.json()["error"]["type"] == "service_unavailable"
    return refused


def test_openai_sdk_waits_for_the_breaker_instead_of_hammering_it(upstream: LoopbackUpstream) -> None:
    """The SDK retries 503s on its own; with retry-after-ms it waits out the cool-down and gets through."""
    cooldown = 1.5
    upstream.faults.add(Fault(status=500, times=1))  # one failure opens the breaker, then the upstream is fine
    config = _config(upstream.url, f"  breaker: {{failure_threshold: 1, cooldown_s: {cooldown}}}")
    with running(config) as gateway:
        assert _post(gateway, "primary", "t1").status_code == 502  # opens the breaker
        opened = time.monotonic()
        before = len(gateway.traces.items)
        with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=3) as client:
            answer = client.chat.completions.create(model="primary", messages=USER)  # type: ignore[arg-type]
        waited = time.monotonic() - opened
        hits = len(gateway.traces.items) - before
    assert answer.model == "primary" and answer.choices[0].message.content == "echo: one two three"
    assert hits == 2  # refused once (503 + Retry-After), then served: no retries into the open breaker
    assert len(upstream.requests) == 2  # the failure that opened it, and the half-open probe that closed it
    assert waited >= cooldown - 0.2  # the SDK slept the announced wait (its own backoff would be ~0.5 s)
