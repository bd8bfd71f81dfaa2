"""Soak test: many concurrent clients against an engine whose primary upstream fails on a script.

    .venv/bin/python bench/soak.py [--clients 32] [--requests 2000] [--seconds 30] [--fail 0.3]

Two loopback upstreams (real HTTP over 127.0.0.1, nothing leaves the machine):
the primary answers HTTP 503 to a seeded ``--fail`` fraction of requests (and,
with ``--slow``, stalls another fraction past its timeout); the backup is
healthy. The engine runs the full resilient call path: retry, breaker,
fallback, safe default. Bounded by both ``--requests`` and ``--seconds``.

Prints requests sent, answered by primary, by fallback, safe-defaulted, lost
(an exception reached the client — must be 0 while the backup is healthy),
breaker transitions, and p50/p99 latency. Exits 1 if any request was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections import Counter

from rich.console import Console
from rich.table import Table

from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault, FaultPlan
from modelyard.types import ChatRequest

CONFIG = """
version: 1
models:
  primary:
    {{family: llm, provider: openai, base_url: "{primary}/v1", timeout_s: 0.5,
      price: {{input: 1, output: 2}}}}
  backup:
    {{family: llm, provider: openai, base_url: "{backup}/v1", timeout_s: 2, price: {{input: 3, output: 4}}}}
routers: {{default: {{kind: fixed, target: primary}}}}
resilience:
  fallbacks: {{primary: [backup]}}
  retry: {{attempts: 2, base_delay_ms: 10, max_delay_ms: 100}}
  breaker:
    {{failure_threshold: 10, failure_rate: 0.6, window_s: 5, min_calls: 20, cooldown_s: 1,
      half_open_probes: 2}}
  safe_default: {{enabled: true}}
"""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def soak(args: argparse.Namespace) -> int:
    logging.getLogger("modelyard").setLevel(logging.ERROR)  # transitions are counted in the table
    plan = FaultPlan(seed=args.seed)
    plan.add(Fault(status=503, probability=args.fail, times=None))
    if args.slow:
        plan.add(Fault(latency_ms=2_000, probability=args.slow, times=None))
    async with LoopbackUpstream(faults=plan) as primary, LoopbackUpstream() as backup:
        config = parse_config(CONFIG.format(primary=primary.url, backup=backup.url), source="soak.yaml")
        engine = Engine(config)
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        stop_at = time.monotonic() + args.seconds
        issued = 0

        async def client(n: int) -> None:
            nonlocal issued
            while issued < args.requests and time.monotonic() < stop_at:
                issued += 1
                request = ChatRequest.from_text(f"client {n} request {issued} says hello", model="default")
                started = time.perf_counter()
                try:
                    done = await engine.chat(request)
                except Exception as exc:  # a lost request: exactly what the soak exists to catch
                    outcomes["lost"] += 1
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000.0)
                if done.response.finish_reason == "safe_default":
                    outcomes["safe_default"] += 1
                else:
                    outcomes["primary" if done.model == "primary" else "fallback"] += 1

        wall = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(args.clients)))
        wall = time.perf_counter() - wall
        assert engine.resilience is not None
        transitions = engine.resilience.calls.breakers.transitions
        await engine.aclose()

    sent = sum(outcomes.values())
    table = Table(
        title=f"soak: {args.clients} clients, primary fails {args.fail:.0%} (503)"
        + (f" + {args.slow:.0%} stalls" if args.slow else "")
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("requests sent", f"{sent}"),
        ("answered by primary", f"{outcomes['primary']}"),
        ("answered by fallback", f"{outcomes['fallback']}"),
        ("safe-defaulted", f"{outcomes['safe_default']}"),
        ("lost", f"{outcomes['lost']}" + (f" ({dict(errors)})" if errors else "")),
        ("breaker opened", f"{sum(v for (_, _, new), v in transitions.items() if new == 'open')}"),
        ("p50 latency", f"{_quantile(latencies, 0.5):.1f} ms"),
        ("p99 latency", f"{_quantile(latencies, 0.99):.1f} ms"),
        ("mean latency", f"{statistics.fmean(latencies):.1f} ms" if latencies else "-"),
        ("throughput", f"{sent / wall:.0f} req/s over {wall:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    return 1 if outcomes["lost"] else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fail", type=float, default=0.3, help="fraction of primary requests answered 503")
    parser.add_argument("--slow", type=float, default=0.0, help="fraction of primary requests stalled 2 s")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not (0 <= args.fail <= 1 and 0 <= args.slow <= 1) or args.clients < 1 or args.requests < 1:
        parser.error("--fail/--slow must be within [0, 1]; --clients and --requests ≥ 1")
    sys.exit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
