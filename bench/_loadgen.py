"""A lean closed-loop HTTP/1.1 load generator, run as its own process by the benchmarks.

Why not httpx: on this 2-core machine the load generator shares CPU with the
gateway and the upstream, and httpx spends ~0.5 ms of client CPU a request —
more than a bare proxy adds. This client writes one pre-built request per
keep-alive connection and reads the reply (content-length or chunked), so
nearly all the CPU goes to the servers being measured. Its own ceiling is
measured by driving the upstream directly (the "direct" target).

Closed loop: ``concurrency`` connections, each sending its next request as
soon as the last reply is in. A run stops at ``requests`` replies or after
``seconds`` (no new request starts after that), whichever comes first;
requests still in flight ``grace`` seconds later count as errors.

    python bench/_loadgen.py --url http://127.0.0.1:9000/v1/chat/completions \\
        --body '{"model": "m", "messages": [...]}' --concurrency 16 --requests 2000 --seconds 5

prints one JSON object: latencies (ms, successes only), errors, wall and CPU seconds.
``--watch '{"gateway": [pid, ...]}'`` adds the CPU seconds those processes spent
during the measured run (read from /proc at its start and end), and the busy
CPU seconds of the whole machine, so a report can say where the CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

__all__ = ["RunResult", "closed_loop", "descendants", "machine_busy_seconds", "main", "process_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, all threads (Linux /proc; 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent not idle since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _TICK


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a server may fork workers or helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _watch_snapshot(watch: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(process_cpu_seconds(p) for p in pids) for name, pids in watch.items()}


@dataclass
class RunResult:
    """One measured run. ``cpu_s`` is this process's own CPU time during the run."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_watch: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s > 0 else 0.0


class _Connection:
    """One keep-alive HTTP/1.1 connection that reconnects after the server closes it."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self) -> int:
        """Send the request, read the whole reply; return its status."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        self.writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            at = lowered.find(b"content-length:")
            if at < 0:
                raise ValueError("reply without content-length or chunked body")
            length = int(lowered[at + 15 : lowered.index(b"\r\n", at)])
            await reader.readexactly(length)
        if b"connection: close" in lowered:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int = 0,
    grace: float = 30.0,
    watch: dict[str, list[int]] | None = None,
) -> RunResult:
    """Warm ``concurrency`` connections with ``warmup`` requests, then measure one bounded run."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    connections = [_Connection(host, port, request) for _ in range(concurrency)]
    result = RunResult()
    remaining = 0
    stop_at = 0.0

    async def worker(conn: _Connection, record: bool) -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            started = time.perf_counter()
            try:
                status = await conn.call()
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                conn.close()
                status, reason = 0, f"{type(exc).__name__}: {exc}"
            else:
                reason = f"HTTP {status}"
            if not record:
                continue
            if status == 200:
                result.latencies_ms.append((time.perf_counter() - started) * 1000.0)
            else:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(reason)

    if warmup > 0:
        remaining, stop_at = warmup, time.perf_counter() + max(1.0, seconds / 2)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await asyncio.gather(*(worker(c, False) for c in connections))
    remaining, stop_at = requests, time.perf_counter() + seconds
    watched0, busy0 = _watch_snapshot(watch or {}), machine_busy_seconds()
    cpu0, began = time.process_time(), time.perf_counter()
    tasks = [asyncio.ensure_future(worker(c, True)) for c in connections]
    _, pending = await asyncio.wait(tasks, timeout=seconds + grace)
    for task in pending:  # in flight past the grace period: each is a failed request
        task.cancel()
        result.errors += 1
    result.wall_s = time.perf_counter() - began
    result.cpu_s = time.process_time() - cpu0
    result.machine_busy_s = machine_busy_seconds() - busy0
    result.cpu_watch = {k: v - watched0[k] for k, v in _watch_snapshot(watch or {}).items()}
    for conn in connections:
        conn.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="closed-loop HTTP/1.1 load generator (prints JSON)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="JSON request body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000, help="max measured requests")
    parser.add_argument("--seconds", type=float, default=5.0, help="max seconds of measured run")
    parser.add_argument("--warmup", type=int, default=0, help="unmeasured requests first")
    parser.add_argument("--watch", default="{}", help='JSON {"name": [pid, ...]} whose CPU to report')
    args = parser.parse_args(argv)
    run = closed_loop(
        args.url,
        args.body.encode(),
        concurrency=args.concurrency,
        requests=args.requests,
        seconds=args.seconds,
        warmup=args.warmup,
        watch={str(k): [int(p) for p in v] for k, v in json.loads(args.watch).items()},
    )
    try:
        import uvloop

        result = uvloop.run(run)
    except ImportError:
        result = asyncio.run(run)
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
