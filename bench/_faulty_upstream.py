"""The loopback upstream as its own process, misbehaving on a fault plan given as JSON.

Why a separate process: the soak test measures a gateway under load on a small
machine, and an upstream sharing the load generator's interpreter would slow
both. ``python -m modelyard.testing.upstream`` takes no fault plan, so this
wrapper builds one from ``--faults`` (a JSON list of `Fault` keyword arguments,
standing rules when ``times`` is null) and counts what it injected.

    python bench/_faulty_upstream.py --port 0 --seed 7 \\
        --faults '[{"path": "/primary/", "status": 503, "probability": 0.2, "times": null}]'

Prints ``listening <url>`` once bound; on SIGTERM/SIGINT prints one JSON line
``{"requests": {prefix: n}, "faults": {prefix: {kind: n}}}`` (prefix = first
path segment) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections import Counter
from typing import Any

from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault, FaultPlan

__all__ = ["CountingPlan", "fault_kind", "main"]


def fault_kind(fault: Fault) -> str:
    """A short label for what a fault does to a request."""
    if fault.connection_reset:
        return "reset"
    if fault.status is not None:
        return str(fault.status)
    if fault.latency_ms > 0:
        return f"stall {fault.latency_ms:g} ms"
    return "other"


def _prefix(path: str) -> str:
    return path.strip("/").split("/", 1)[0] or "/"


class CountingPlan(FaultPlan):
    """A `FaultPlan` that also counts requests and injected faults per first path segment."""

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.requests: Counter[str] = Counter()
        self.injected: dict[str, Counter[str]] = {}

    def take(self, path: str) -> Fault | None:
        fault = super().take(path)
        prefix = _prefix(path)
        self.requests[prefix] += 1
        if fault is not None:
            self.injected.setdefault(prefix, Counter())[fault_kind(fault)] += 1
        return fault


async def _serve(host: str, port: int, plan: CountingPlan) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with LoopbackUpstream(host=host, port=port, faults=plan) as upstream:
        print(f"listening {upstream.url}", flush=True)
        await stop.wait()
    report = {"requests": dict(plan.requests), "faults": {k: dict(v) for k, v in plan.injected.items()}}
    print(json.dumps(report), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default="[]", help="JSON list of Fault keyword arguments")
    args = parser.parse_args(argv)
    specs: list[dict[str, Any]] = json.loads(args.faults)
    plan = CountingPlan(seed=args.seed)
    plan.add(*(Fault(**spec) for spec in specs))
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(_serve(args.host, args.port, plan))


if __name__ == "__main__":
    main()
