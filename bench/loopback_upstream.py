"""Throughput of the loopback upstream, so gateway benchmarks know it is not the bottleneck.

    .venv/bin/python bench/loopback_upstream.py [--seconds 5] [--connections 16] [--stream] [--uvloop]

Starts ``python -m modelyard.testing.upstream`` as its own process, drives it
with a minimal keep-alive HTTP/1.1 client over 127.0.0.1, and prints requests
per wall-clock second and per second of the upstream's own CPU time (read from
/proc), the latter being "requests/s on one core" whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello benchmark"}]}).encode()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def worker(port: int, deadline: float, body: bytes, stream: bool) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    done = 0
    while time.monotonic() < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if stream:
            await reader.readuntil(b"\r\n0\r\n\r\n")
        else:
            length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
        done += 1
    writer.close()
    return done


async def drive(port: int, seconds: float, connections: int, stream: bool) -> int:
    body = json.dumps({**json.loads(BODY), "stream": True}).encode() if stream else BODY
    deadline = time.monotonic() + seconds
    counts = await asyncio.gather(*(worker(port, deadline, body, stream) for _ in range(connections)))
    return sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=9417)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--uvloop", action="store_true", help="run the upstream on uvloop")
    args = parser.parse_args()
    cmd = [sys.executable, "-m", "modelyard.testing.upstream", "--port", str(args.port)]
    proc = subprocess.Popen([*cmd, *(["--uvloop"] if args.uvloop else [])], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        asyncio.run(drive(args.port, 0.5, 2, args.stream))  # warm up
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        total = asyncio.run(drive(args.port, args.seconds, args.connections, args.stream))
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    kind = "streamed chat (SSE)" if args.stream else "chat"
    print(f"{kind}: {total} requests in {wall:.1f}s over {args.connections} connections")
    print(f"  wall-clock:      {total / wall:,.0f} req/s (client and upstream share the machine)")
    print(f"  upstream CPU:    {cpu:.2f}s → {total / cpu:,.0f} req/s per core")


if __name__ == "__main__":
    main()
