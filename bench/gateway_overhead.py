"""How much latency the gateway adds: client → gateway → upstream vs client → upstream.

Starts the loopback upstream (``python -m modelyard.testing.upstream``) and a
gateway (``modelyard serve``, one worker) whose ``openai``-provider model
points at it, all on 127.0.0.1. A closed-loop load generator (httpx, keep-alive,
``concurrency`` workers, each sending its next request when the last one
returned) measures both paths at each concurrency level, alternating direct
and gateway runs so that machine noise hits both alike. Every run is bounded
by a request count and a time limit.

The gateway runs as in production: routing through a ``fixed`` router, the
resilience layer, and one access-log line per request (written to a file).

    .venv/bin/python bench/gateway_overhead.py
    .venv/bin/python bench/gateway_overhead.py --concurrency 1,8 --requests 1000 --rounds 2
    .venv/bin/python bench/gateway_overhead.py ... --save    # also bench/results/gateway_overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from _results import RESULTS, Run

BODY = (
    b'{"model": "%s", "messages": [{"role": "system", "content": "Be brief."},'
    b' {"role": "user", "content": "What is the capital of France? Answer in one word."}],'
    b' "max_tokens": 16}'
)

CONFIG = """
version: 1
models:
  up:
    family: llm
    provider: openai
    upstream_model: loopback
    base_url: {url}/v1
routers:
  default: {{kind: fixed, target: up}}
"""


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    best_rps: float = 0.0
    cpu_s: float = 0.0  # CPU seconds the measured server process spent during the runs

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def run(client: httpx.AsyncClient, url: str, body: bytes, concurrency: int, n: int, seconds: float) -> Samples:
    """One closed-loop run: at most ``n`` requests and ``seconds`` of wall time."""
    samples = Samples()
    remaining = n
    stop_at = time.perf_counter() + seconds
    headers = {"content-type": "application/json"}

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            started = time.perf_counter()
            reply = await client.post(url, content=body, headers=headers)
            elapsed = time.perf_counter() - started
            if reply.status_code == 200:
                samples.latencies.append(elapsed)
            else:
                samples.errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    samples.best_rps = len(samples.latencies) / wall if wall > 0 else 0.0
    return samples


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    targets: dict[str, tuple[str, bytes, int]], levels: list[int], n: int, seconds: float, rounds: int
) -> dict[tuple[int, str], Samples]:
    results: dict[tuple[int, str], Samples] = {}
    for concurrency in levels:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        clients = {name: httpx.AsyncClient(limits=limits, timeout=60.0) for name in targets}
        try:
            for name, (url, body, _) in targets.items():  # warm up connections and caches
                await run(clients[name], url, body, concurrency, max(50, 4 * concurrency), seconds)
            for r in range(rounds):
                order = list(targets) if r % 2 == 0 else list(reversed(targets))
                for name in order:
                    url, body, pid = targets[name]
                    cpu_before = cpu_seconds(pid)
                    got = await run(clients[name], url, body, concurrency, n, seconds)
                    total = results.setdefault((concurrency, name), Samples())
                    total.cpu_s += cpu_seconds(pid) - cpu_before
                    total.latencies += got.latencies
                    total.errors += got.errors
                    total.best_rps = max(total.best_rps, got.best_rps)
        finally:
            for client in clients.values():
                await client.aclose()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=1.0)
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within {timeout:.0f}s")


@contextlib.contextmanager
def processes(workdir: Path, log_level: str) -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    """Start upstream and gateway; yield (base URL, pid) of each; stop both (by pid) on exit."""
    bin_dir = Path(sys.executable).parent
    up_port, gw_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    gateway_url = f"http://127.0.0.1:{gw_port}"
    config = workdir / "bench.yaml"
    config.write_text(CONFIG.format(url=upstream_url))
    started: list[subprocess.Popen[bytes]] = []
    try:
        up_log = (workdir / "upstream.log").open("wb")
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "modelyard.testing.upstream", "--port", str(up_port), "--uvloop"],
                stdout=up_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_ready(f"{upstream_url}/v1/models", started[-1], "loopback upstream")
        gw_log = (workdir / "gateway.log").open("wb")
        started.append(
            subprocess.Popen(
                [
                    str(bin_dir / "modelyard"),
                    "serve",
                    "--config",
                    str(config),
                    "--port",
                    str(gw_port),
                    "--workers",
                    "1",
                    "--log-level",
                    log_level,
                ],
                stdout=gw_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_ready(f"{gateway_url}/healthz", started[-1], "gateway")
        yield (upstream_url, started[0].pid), (gateway_url, started[1].pid)
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def table(results: dict[tuple[int, str], Samples], levels: list[int]) -> Table:
    out = Table(title="gateway overhead (loopback; latency in ms)")
    for col in (
        "concurrency",
        "direct p50",
        "gateway p50",
        "added p50",
        "direct p99",
        "gateway p99",
        "added p99",
        "direct max rps",
        "gateway max rps",
        "upstream CPU ms/req",
        "gateway CPU ms/req",
        "requests (d/g)",
        "errors",
    ):
        out.add_column(col, justify="right")
    for c in levels:
        d, g = results[(c, "direct")], results[(c, "gateway")]
        d50, g50, d99, g99 = d.quantile(0.5), g.quantile(0.5), d.quantile(0.99), g.quantile(0.99)
        out.add_row(
            str(c),
            f"{d50:.2f}",
            f"{g50:.2f}",
            f"[bold]{g50 - d50:+.2f}[/]",
            f"{d99:.2f}",
            f"{g99:.2f}",
            f"{g99 - d99:+.2f}",
            f"{d.best_rps:,.0f}",
            f"{g.best_rps:,.0f}",
            f"{d.cpu_s * 1000 / max(1, len(d.latencies)):.2f}",
            f"{g.cpu_s * 1000 / max(1, len(g.latencies)):.2f}",
            f"{len(d.latencies)}/{len(g.latencies)}",
            str(d.errors + g.errors),
        )
    return out


def summary(results: dict[tuple[int, str], Samples], levels: list[int]) -> list[dict[str, object]]:
    """The numbers behind the table, per concurrency level and target (latencies in ms)."""
    rows: list[dict[str, object]] = []
    for c in levels:
        for name in ("direct", "gateway"):
            s = results[(c, name)]
            rows.append(
                {
                    "concurrency": c,
                    "target": name,
                    "requests": len(s.latencies),
                    "errors": s.errors,
                    **{f"p{int(q * 100)}_ms": round(s.quantile(q), 4) for q in (0.5, 0.9, 0.99)},
                    "max_ms": round(max(s.latencies) * 1000.0, 4) if s.latencies else None,
                    "best_rps": round(s.best_rps, 1),
                    "server_cpu_ms_per_request": round(s.cpu_s * 1000 / max(1, len(s.latencies)), 4),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=2000, help="max requests per run")
    parser.add_argument("--seconds", type=float, default=4.0, help="max seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/gateway runs per level")
    parser.add_argument("--log-level", default="info", help="gateway log level (info keeps the access log)")
    parser.add_argument(
        "--save", type=Path, nargs="?", const=RESULTS / "gateway_overhead.json", help="write the numbers as JSON"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",")]
    saving = Run("gateway_overhead", args.save, vars(args))
    console = Console(width=200)
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp,
        processes(Path(tmp), args.log_level) as ((upstream, upstream_pid), (gateway, gateway_pid)),
    ):
        targets = {
            "direct": (f"{upstream}/v1/chat/completions", BODY % b"loopback", upstream_pid),
            "gateway": (f"{gateway}/v1/chat/completions", BODY % b"default", gateway_pid),
        }
        runner = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
        results = runner(measure(targets, levels, args.requests, args.seconds, args.rounds))
        log_lines = sum(1 for _ in (Path(tmp) / "gateway.log").open())
    console.print(table(results, levels))
    console.print(
        f"{os.cpu_count()} CPUs shared by load generator, gateway and upstream; "
        f"load average {os.getloadavg()[0]:.1f}; gateway wrote {log_lines} log lines."
    )
    if (saved := saving.save({"levels": summary(results, levels), "gateway_log_lines": log_lines})) is not None:
        console.print(f"saved {saved}")


if __name__ == "__main__":
    main()
