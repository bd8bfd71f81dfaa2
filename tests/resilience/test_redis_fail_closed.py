"""Redis unreachable: the gateway fails closed — HTTP 503, and no model is called unmetered.

With ``state.backend: redis`` every call passes breakers, rate limits and
budgets kept in Redis. When Redis cannot be reached the request must not run
unmetered: the client gets HTTP 503 (OpenAI error shape, ``service_unavailable``)
and the model's upstream (a real loopback server) receives nothing. Two ways to
lose Redis: a URL where nothing ever listened, and a private redis-server
killed between requests (the first request, before the kill, is answered).
Streamed and not; with and without the safe default (an apology must not paper
over running unmetered).
"""

from __future__ import annotations

import pytest

from modelyard.testing import LoopbackUpstream
from tests.net import free_port
from tests.resilience.conftest import redis_process
from tests.resilience.modes import Mode, ask_gateway
from tests.server.server_harness import running


def _config(upstream: LoopbackUpstream, redis_url: str, safe_default: bool) -> str:
    return f"""
version: 1
models:
  up: {{family: llm, provider: openai, base_url: "{upstream.url}/v1", price: {{input: 1, output: 1}}}}
routers: {{default: {{kind: fixed, target: up}}}}
resilience:
  budgets: {{tenants: {{"*": {{daily_usd: 100}}}}}}
  safe_default: {{enabled: {str(safe_default).lower()}}}
  state: {{backend: redis, url: "{redis_url}", prefix: fail-closed, refresh_ms: 0}}
"""


@pytest.mark.parametrize("safe_default", [False, True], ids=["no-safe-default", "safe-default"])
@pytest.mark.parametrize("loss", ["never-reachable", "killed-mid-run"])
def test_unreachable_redis_is_503_and_no_upstream_call(mode: Mode, loss: str, safe_default: bool) -> None:
    with LoopbackUpstream.running_in_thread() as upstream, redis_process() as (url, redis):
        if loss == "never-reachable":
            url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        with running(_config(upstream, url, safe_default)) as gateway:
            if loss == "killed-mid-run":
                before = ask_gateway(gateway.url, mode, model="default", max_tokens=5)
                assert before.status == 200 and before.error is None, before
                assert len(upstream.requests) == 1
                redis.kill()
                redis.wait(timeout=10)
            upstream.clear_requests()
            reply = ask_gateway(gateway.url, mode, model="default", max_tokens=5)
            assert reply.status == 503, reply
            assert reply.error is not None and reply.error["type"] == "service_unavailable"
            assert "shared state store unavailable" in reply.error["message"]
            assert url.split("//")[1] not in reply.error["message"]  # never the URL (it may hold a password)
            assert upstream.requests == []  # nothing ran unmetered
            trace = gateway.traces.items[-1]
            assert trace.status == "error" and trace.attempts == []
