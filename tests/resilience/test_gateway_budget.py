"""A tenant budget enforced through the HTTP gateway: 200 concurrent requests, room for 50.

The tenant comes from the gateway API key, each request costs exactly one unit
(a sim model — simulated, no model runs — with a fixed output price and a fixed
10-token answer, and ``max_tokens: 10`` so the worst case reserved equals the
actual), and the budget holds 50 units. Exactly 50 requests must be answered,
the other 150 refused with HTTP 402 in OpenAI's error shape, and the spend
recorded must be 50 units — with the in-process state in one gateway, and with
Redis shared by two ``modelyard serve`` processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.engine import Engine
from tests.net import free_port
from tests.server.server_harness import running

MakeEngine = Callable[..., Engine]

MODELYARD = str(Path(sys.executable).parent / "modelyard")
KEY = "sk-gw-budget-test-0123456789"  # test-only gateway keys; config holds their SHA-256 only
WARM_KEY = "sk-gw-budget-warm-up-98765"  # a tenant without a budget, to warm each gateway up
UNIT_USD = 10 / 1000 * 2  # 10 output tokens at $2 per 1K
ALLOWED = 50
TOTAL = 200

CONFIG = f"""
version: 1
gateway:
  api_keys:
    - {{name: acme-app, tenant: acme, sha256: {hashlib.sha256(KEY.encode()).hexdigest()}}}
    - {{name: warm-up, sha256: {hashlib.sha256(WARM_KEY.encode()).hexdigest()}}}
models:
  m: {{family: slm, provider: sim, price: {{output: 2}}, options: {{latency_ms: 50, output_tokens: 10}}}}
routers: {{default: {{kind: fixed, target: m}}}}
resilience:
  budgets: {{tenants: {{acme: {{daily_usd: {ALLOWED * UNIT_USD}}}}}}}
  safe_default: {{enabled: true}}
"""


@contextmanager
def serve_processes(config: Path, count: int, log_dir: Path) -> Iterator[list[str]]:
    """``count`` ``modelyard serve`` processes on free ports (started together); yields base URLs."""
    with ExitStack() as stack:
        procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
        for i in range(count):
            port, log = free_port(), log_dir / f"gateway-{i}.log"
            out = stack.enter_context(log.open("wb"))
            cmd = [MODELYARD, "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            stack.callback(_stop, proc)
            procs.append((proc, f"http://127.0.0.1:{port}", log))
        deadline = time.monotonic() + 20
        for proc, url, log in procs:
            while True:
                assert proc.poll() is None, f"gateway exited {proc.returncode}: {log.read_text()[-1000:]}"
                assert time.monotonic() < deadline, "gateway did not start"
                try:
                    if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
        yield [url for _, url, _ in procs]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


BODY = {"model": "default", "max_tokens": 10, "messages": [{"role": "user", "content": "spend"}]}


async def fire(urls: list[str], n: int) -> list[httpx.Response]:
    """``n`` concurrent requests, round-robin over ``urls``. Every other one claims another
    tenant in a header, which the key must override (so it still spends acme's budget).

    Each gateway first answers two requests of the warm-up tenant, so its first-request
    costs (imports, connection pools) do not decide which gateway wins the race."""
    headers = {"authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=20.0) as client:
        warm = {"authorization": f"Bearer {WARM_KEY}"}
        for url in urls * 2:
            assert (await client.post(f"{url}/v1/chat/completions", json=BODY, headers=warm)).status_code == 200

        async def one(i: int) -> httpx.Response:
            extra = {"x-modelyard-tenant": "someone-else"} if i % 2 else {}
            return await client.post(
                f"{urls[i % len(urls)]}/v1/chat/completions", json=BODY, headers={**headers, **extra}
            )

        return await asyncio.gather(*(one(i) for i in range(n)))


def check_replies(replies: list[httpx.Response]) -> None:
    by_status: dict[int, list[httpx.Response]] = {}
    for reply in replies:
        by_status.setdefault(reply.status_code, []).append(reply)
    assert {s: len(r) for s, r in by_status.items()} == {200: ALLOWED, 402: TOTAL - ALLOWED}
    for ok in by_status[200]:
        data: dict[str, Any] = ok.json()
        assert data["choices"][0]["finish_reason"] != "safe_default"  # a refusal is never apologised away
        assert data["usage"]["completion_tokens"] == 10
        assert float(ok.headers["x-modelyard-cost-usd"]) == pytest.approx(UNIT_USD)
    for refused in by_status[402]:
        error = refused.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "insufficient_quota"
        assert "acme" in error["message"] and "budget" in error["message"]
        assert KEY not in refused.text


async def test_one_gateway_in_process_budget_allows_exactly_50_of_200() -> None:
    with running(CONFIG) as gateway:
        replies = await fire([gateway.url], TOTAL)
        check_replies(replies)
        assert gateway.engine.resilience is not None
        spent = await gateway.engine.resilience.calls.budget.spent("acme")
        assert spent["daily"] == pytest.approx(ALLOWED * UNIT_USD)
        tenants = [trace.tenant for trace in gateway.traces.items]
        assert tenants.count("acme") == TOTAL and set(tenants) == {"acme", "warm-up"}  # keys, not headers


async def test_two_gateway_processes_sharing_redis_allow_exactly_50_of_200(
    tmp_path: Path, make_engine: MakeEngine, redis_server: str, redis_prefix: str
) -> None:
    state = f'  state: {{backend: redis, url: "{redis_server}", prefix: "{redis_prefix}"}}\n'
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG + state)
    with serve_processes(config, 2, tmp_path) as urls:
        replies = await fire(urls, TOTAL)
    check_replies(replies)
    # Each gateway got 100 requests: with a budget of its own, each would have served 50.
    assert all(sum(str(r.url).startswith(url) for r in replies) == TOTAL // 2 for url in urls)
    reader = make_engine(config.read_text())  # reads the same Redis keys the gateways wrote
    assert reader.resilience is not None
    spent = await reader.resilience.calls.budget.spent("acme")
    assert spent["daily"] == pytest.approx(ALLOWED * UNIT_USD)
