"""A separate OS process for the shared-Redis budget test: one engine, N concurrent requests.

Usage: python budget_worker.py REDIS_URL PREFIX N  → prints "served refused spent_usd" on stdout.
"""

from __future__ import annotations

import asyncio
import sys

from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.errors import BudgetExceededError
from modelyard.types import ChatRequest, RoutingHints

CONFIG = """
version: 1
models:
  m: {family: slm, provider: sim, price: {output: 2}, options: {latency_ms: 20, output_tokens: 10}}
routers: {default: {kind: fixed, target: m}}
resilience:
  budgets: {tenants: {acme: {daily_usd: 1.0}}}
  state: {backend: redis, url: "%s", prefix: "%s"}
"""


async def main(url: str, prefix: str, n: int) -> None:
    engine = Engine(parse_config(CONFIG % (url, prefix), source="worker.yaml"))
    hints = RoutingHints(tenant="acme")
    request = ChatRequest.from_text("spend", model="m", max_tokens=10, hints=hints)
    results = await asyncio.gather(*(engine.chat(request) for _ in range(n)), return_exceptions=True)
    served = [r for r in results if not isinstance(r, BaseException)]
    refused = sum(isinstance(r, BudgetExceededError) for r in results)
    others = [r for r in results if isinstance(r, BaseException) and not isinstance(r, BudgetExceededError)]
    if others:
        raise others[0]
    print(len(served), refused, sum(r.cost_usd for r in served))
    await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
