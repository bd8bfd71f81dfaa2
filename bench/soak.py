"""Soak test: concurrent HTTP clients against a gateway whose primary upstream fails on a script.

    .venv/bin/python bench/soak.py [--clients 32] [--requests 2000] [--seconds 30]
                                   [--fail-503 0.15] [--fail-reset 0.05] [--fail-stall 0.05]
                                   [--scenario mixed|all-down|both] [--mode gateway|engine] [--save [FILE]]

Everything runs on 127.0.0.1, over real sockets. In the default ``gateway``
mode three processes take part: the loopback upstream (``bench/_faulty_upstream.py``)
serving two OpenAI-style endpoints, ``/primary/v1`` and ``/backup/v1``;
``modelyard serve`` on a generated config whose ``primary`` model (an
``openai``-provider model) falls back to ``backup``, with retries, a breaker
and the safe default; and this script's ``--clients`` concurrent httpx clients.
``--mode engine`` drives an in-process `Engine` instead (no gateway).

Scenarios (``--scenario both`` runs them one after the other):

* ``mixed`` — the primary answers HTTP 503, resets the connection, or stalls
  past its 0.5 s timeout on seeded fractions of requests; the backup is healthy.
* ``all-down`` — primary and backup both answer 503: every request must get
  the safe default.

Each run is bounded by ``--requests`` and ``--seconds``. A reply is classified
by the gateway's ``x-modelyard-model`` header and the body (``finish_reason:
safe_default``, model ``modelyard/safe-default``): answered by primary, by
fallback, safe-defaulted, or lost (non-200 or a transport error). Prints one
table; exits 1 if any request was lost (the safe default is on, so none may be).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package: siblings by path
from _faulty_upstream import CountingPlan
from _results import RESULTS, Run
from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault
from modelyard.types import ChatRequest

SAFE_DEFAULT_MODEL = "modelyard/safe-default"
PRIMARY_TIMEOUT_S = 0.5

CONFIG = """
version: 1
models:
  primary:
    {{family: llm, provider: openai, upstream_model: loopback, base_url: "{url}/primary/v1",
      timeout_s: {timeout}, price: {{input: 1, output: 2}}}}
  backup:
    {{family: llm, provider: openai, upstream_model: loopback, base_url: "{url}/backup/v1",
      timeout_s: 2, price: {{input: 3, output: 4}}}}
routers: {{default: {{kind: fixed, target: primary}}}}
resilience:
  fallbacks: {{primary: [backup]}}
  retry: {{attempts: 2, base_delay_ms: 10, max_delay_ms: 100}}
  breaker:
    {{failure_threshold: 10, failure_rate: 0.6, window_s: 5, min_calls: 20, cooldown_s: 1,
      half_open_probes: 2}}
  safe_default: {{enabled: true}}
"""


@dataclass
class Outcomes:
    """What one scenario's clients saw, plus what the upstream reported injecting."""

    counts: Counter[str] = field(default_factory=Counter)
    lost_why: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    attempts: int = 0
    wall_s: float = 0.0
    upstream: dict[str, Any] = field(default_factory=dict)

    def record(self, outcome: str, started: float, attempts: int = 0, why: str = "") -> None:
        self.counts[outcome] += 1
        self.attempts += attempts
        if outcome == "lost":
            self.lost_why[why] += 1
        else:
            self.latencies_ms.append((time.perf_counter() - started) * 1000.0)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def scenario_faults(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Fault rules (`Fault` kwargs) for a scenario; each rule's chance is conditional on the ones
    before it not firing, so the overall fractions are the ones asked for."""
    if name == "all-down":
        return [{"status": 503, "times": None}]  # every path, both models
    rules, left = [], 1.0
    for share, fault in (
        (args.fail_503, {"status": 503}),
        (args.fail_reset, {"connection_reset": True}),
        (args.fail_stall, {"latency_ms": 4 * PRIMARY_TIMEOUT_S * 1000}),
    ):
        if share > 0:
            rules.append({"path": "/primary/", "times": None, "probability": min(1.0, share / left), **fault})
            left -= share
    return rules


def classify(status: int, headers: httpx.Headers, body: bytes) -> tuple[str, int, str]:
    """(outcome, upstream attempts, why-lost) of one gateway reply."""
    if status != 200:
        return "lost", 0, f"HTTP {status}"
    data = json.loads(body)
    ext = data.get("modelyard") or {}
    if data.get("model") == SAFE_DEFAULT_MODEL or data["choices"][0]["finish_reason"] == "safe_default":
        return "safe_default", int(ext.get("attempts", 0)), ""
    model = headers.get("x-modelyard-model")
    if model in ("primary", "backup"):
        return ("primary" if model == "primary" else "fallback"), int(ext.get("attempts", 0)), ""
    return "lost", 0, f"answered by unknown model {model!r}"


# -- gateway mode ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def upstream_process(faults: list[dict[str, Any]], seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Start the faulty upstream; yield (URL, report dict filled in once it has stopped)."""
    cmd = [sys.executable, str(Path(__file__).with_name("_faulty_upstream.py")), "--seed", str(seed)]
    proc = subprocess.Popen([*cmd, "--faults", json.dumps(faults)], stdout=subprocess.PIPE)
    report: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "listening":
            raise SystemExit(f"loopback upstream failed to start (exit {proc.poll()})")
        yield line[1], report
    finally:
        stop(proc)
        if proc.stdout is not None:
            tail = proc.stdout.read().decode().strip()
            proc.stdout.close()
            with contextlib.suppress(ValueError):
                report.update(json.loads(tail.splitlines()[-1]) if tail else {})


@contextlib.contextmanager
def gateway_process(config: Path, log: Path) -> Iterator[str]:
    """``modelyard serve`` on a free port; yields its base URL once /healthz answers."""
    port = free_port()
    binary = Path(sys.executable).with_name("modelyard")
    cmd = [str(binary), "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"gateway exited with code {proc.returncode}:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("gateway did not start within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        stop(proc)


async def drive_gateway(url: str, args: argparse.Namespace) -> Outcomes:
    out = Outcomes()
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    issued, stop_at = 0, time.monotonic() + args.seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def one_client(n: int) -> None:
            nonlocal issued
            while issued < args.requests and time.monotonic() < stop_at:
                issued += 1
                body = {
                    "model": "default",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"client {n} request {issued} says hello"}],
                }
                started = time.perf_counter()
                try:
                    reply = await client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError as exc:  # a lost request: exactly what the soak exists to catch
                    out.record("lost", started, why=type(exc).__name__)
                    continue
                outcome, attempts, why = classify(reply.status_code, reply.headers, reply.content)
                out.record(outcome, started, attempts, why)

        began = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(args.clients)))
        out.wall_s = time.perf_counter() - began
    return out


def run_gateway(name: str, args: argparse.Namespace) -> Outcomes:
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-soak-") as tmp,
        upstream_process(scenario_faults(name, args), args.seed) as (upstream_url, report),
    ):
        config = Path(tmp) / "soak.yaml"
        config.write_text(CONFIG.format(url=upstream_url, timeout=PRIMARY_TIMEOUT_S))
        with gateway_process(config, Path(tmp) / "gateway.log") as gateway_url:
            outcomes = asyncio.run(drive_gateway(gateway_url, args))
    outcomes.upstream = report
    return outcomes


# -- engine mode (in-process, no gateway) -------------------------------------------------


async def run_engine(name: str, args: argparse.Namespace) -> Outcomes:
    logging.getLogger("modelyard").setLevel(logging.ERROR)
    plan = CountingPlan(seed=args.seed)
    plan.add(*(Fault(**spec) for spec in scenario_faults(name, args)))
    out = Outcomes()
    async with LoopbackUpstream(faults=plan) as upstream:
        config = CONFIG.format(url=upstream.url, timeout=PRIMARY_TIMEOUT_S)
        engine = Engine(parse_config(config, source="soak.yaml"))
        issued, stop_at = 0, time.monotonic() + args.seconds

        async def one_client(n: int) -> None:
            nonlocal issued
            while issued < args.requests and time.monotonic() < stop_at:
                issued += 1
                request = ChatRequest.from_text(f"client {n} request {issued} says hello", model="default")
                started = time.perf_counter()
                try:
                    done = await engine.chat(request)
                except Exception as exc:  # a lost request
                    out.record("lost", started, why=type(exc).__name__)
                    continue
                attempts = len(done.trace.attempts)
                if done.response.finish_reason == "safe_default":
                    out.record("safe_default", started, attempts)
                else:
                    out.record("primary" if done.model == "primary" else "fallback", started, attempts)

        began = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(args.clients)))
        out.wall_s = time.perf_counter() - began
        await engine.aclose()
    out.upstream = {"requests": dict(plan.requests), "faults": {k: dict(v) for k, v in plan.injected.items()}}
    return out


# -- report -----------------------------------------------------------------------------


def _upstream_row(report: dict[str, Any], prefix: str) -> str:
    n = report.get("requests", {}).get(prefix, 0)
    faults = report.get("faults", {}).get(prefix, {})
    return f"{n}" + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(faults.items())) + ")" if faults else "")


def render(results: dict[str, Outcomes], args: argparse.Namespace) -> Table:
    where = "gateway (modelyard serve, 1 worker)" if args.mode == "gateway" else "in-process engine"
    table = Table(title=f"soak: {args.clients} concurrent clients → {where} → loopback upstream")
    table.add_column("")
    for name in results:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Any]] = [
        ("requests sent", lambda o: f"{sum(o.counts.values())}"),
        ("answered by primary", lambda o: f"{o.counts['primary']}"),
        ("answered by fallback", lambda o: f"{o.counts['fallback']}"),
        ("safe-defaulted", lambda o: f"{o.counts['safe_default']}"),
        ("lost", lambda o: f"{o.counts['lost']}" + (f" {dict(o.lost_why)}" if o.lost_why else "")),
        ("p50 latency", lambda o: f"{o.quantile(0.5):.1f} ms"),
        ("p99 latency", lambda o: f"{o.quantile(0.99):.1f} ms"),
        ("throughput", lambda o: f"{sum(o.counts.values()) / o.wall_s:.0f} req/s over {o.wall_s:.1f} s"),
        ("upstream calls per request", lambda o: f"{o.attempts / max(1, sum(o.counts.values())):.2f}"),
        ("primary upstream: requests (faults)", lambda o: _upstream_row(o.upstream, "primary")),
        ("backup upstream: requests (faults)", lambda o: _upstream_row(o.upstream, "backup")),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(o) for o in results.values()))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["gateway", "engine"], default="gateway")
    parser.add_argument("--scenario", choices=["mixed", "all-down", "both"], default="both")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2_000, help="per scenario")
    parser.add_argument("--seconds", type=float, default=30.0, help="per scenario")
    parser.add_argument("--fail-503", type=float, default=0.15, help="share of primary calls answered 503")
    parser.add_argument("--fail-reset", type=float, default=0.05, help="share whose connection is reset")
    parser.add_argument("--fail-stall", type=float, default=0.05, help="share stalled past the timeout")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save", type=Path, nargs="?", const=RESULTS / "soak.json", help="write the numbers as JSON")
    args = parser.parse_args()
    shares = (args.fail_503, args.fail_reset, args.fail_stall)
    if min(shares) < 0 or sum(shares) > 1 or args.clients < 1 or args.requests < 1 or args.seconds <= 0:
        parser.error("fault shares must be ≥ 0 and sum to ≤ 1; --clients, --requests, --seconds > 0")
    names = ["mixed", "all-down"] if args.scenario == "both" else [args.scenario]
    saving = Run("soak", args.save, vars(args))
    results: dict[str, Outcomes] = {}
    for name in names:
        results[name] = run_gateway(name, args) if args.mode == "gateway" else asyncio.run(run_engine(name, args))
    console = Console(width=160)
    console.print(render(results, args))
    failed = f"{args.fail_503:.0%} 503, {args.fail_reset:.0%} reset, {args.fail_stall:.0%} stalled"
    console.print(
        f"mixed: primary {failed} (timeout {PRIMARY_TIMEOUT_S} s), backup healthy; all-down: both answer 503. "
        f"{os.cpu_count()} CPUs shared by the clients, {'gateway, ' if args.mode == 'gateway' else ''}upstream "
        f"and whatever else runs; load average {os.getloadavg()[0]:.1f}."
    )
    summary = {
        name: {
            "counts": dict(o.counts),
            "lost_why": dict(o.lost_why),
            "sent": sum(o.counts.values()),
            "p50_ms": o.quantile(0.5),
            "p99_ms": o.quantile(0.99),
            "wall_s": o.wall_s,
            "throughput_rps": sum(o.counts.values()) / o.wall_s if o.wall_s else None,
            "upstream_calls_per_request": o.attempts / max(1, sum(o.counts.values())),
            "upstream": o.upstream,
        }
        for name, o in results.items()
    }
    if (saved := saving.save(summary)) is not None:
        console.print(f"saved {saved}")
    sys.exit(1 if any(o.counts["lost"] for o in results.values()) else 0)


if __name__ == "__main__":
    main()
