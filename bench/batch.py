"""Batch throughput: the local runner, Ray with 1/2/4 workers, and the batch machinery's per-item overhead.

All models are SIMULATED (``provider: sim``, latency 0): no model runs, so what
is measured is modelyard's own work per item — parsing, routing (a rules
router), the resilience call path, building the OpenAI body, the checkpoint's
two transactions and the budget. Telemetry is off in every configuration.

- ``direct``: ``Engine.chat`` on every item, ``--concurrency`` at once, no batch machinery;
- ``local``: ``run_batch`` with the local backend (one engine in this process);
- ``ray-N``: ``run_batch`` with the Ray backend, N worker actors, on a local Ray cluster
  (head + one worker node, started here with ``ray start`` and torn down after).

Overhead per item = (local − direct) CPU seconds of this process / items. On Ray
the workers' CPU is in other processes, so only wall-clock rates are compared.

    .venv/bin/python bench/batch.py --items 5000 --save bench/results/batch.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modelyard.batch import BatchPaths, LocalBackend, RunOptions, run_batch  # noqa: E402
from modelyard.config import parse_config  # noqa: E402
from modelyard.engine import Engine  # noqa: E402
from modelyard.types import ChatRequest  # noqa: E402

CONFIG = """
version: 1
gateway: {default_model: route}
telemetry: {enabled: false}
models:
  cheap: {family: slm, provider: sim, price: {input: 0.0002, output: 0.0006}, options: {output_tokens: 40}}
  top: {family: llm, provider: sim, price: {input: 0.015, output: 0.075}, options: {output_tokens: 40}}
routers:
  route:
    kind: rules
    rules:
      - {name: hard, when: {last_user_prefix: "[hard]"}, target: top}
    default: cheap
"""


def bodies(n: int) -> list[dict[str, Any]]:
    return [{"model": "route", "max_tokens": 60, "messages": [
        {"role": "user", "content": ("[hard] " if i % 10 == 0 else "") + f"problem {i}: explain the solution"}]}
        for i in range(n)]


def write_input(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i, body in enumerate(bodies(n)):
            fh.write(json.dumps({"custom_id": f"i{i}", "method": "POST", "url": "/v1/chat/completions",
                                 "body": body}) + "\n")


async def direct(n: int, concurrency: int) -> dict[str, float]:
    engine = Engine(parse_config(CONFIG, source="bench"))
    items = bodies(n)
    sem = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            await engine.chat(ChatRequest.model_validate(body))  # parsing the body is part of calling

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(b) for b in items))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.aclose()
    return {"items": n, "wall_s": wall, "items_per_s": n / wall, "cpu_us_per_item": cpu / n * 1e6}


async def batch(n: int, concurrency: int, backend_kind: str, address: str | None = None,
                workers: int = 1) -> dict[str, float | str]:
    config = parse_config(CONFIG, source="bench")
    with tempfile.TemporaryDirectory(prefix="mybench") as tmp:
        src = Path(tmp) / "in.jsonl"
        write_input(src, n)
        if backend_kind == "ray":
            from modelyard.batch.backends.ray import RayBackend

            backend: Any = RayBackend(config, address=address or "auto", workers=workers, concurrency=concurrency)
        else:
            backend = LocalBackend(config, concurrency=concurrency)
        cpu, wall = time.process_time(), time.perf_counter()
        result = await run_batch(config, BatchPaths.beside(src, Path(tmp) / "out.jsonl"), backend, RunOptions())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    s = result.stats
    assert s.done == n, s
    return {"items": n, "wall_s": wall, "run_s": s.elapsed_s, "items_per_s": n / s.elapsed_s,
            "items_per_s_incl_startup": n / wall, "cpu_us_per_item_this_process": cpu / n * 1e6,
            "backend": s.backend}


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "commit": commit.stdout.strip(), "load_average_before": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ray-workers", default="1,2,4", help="comma-separated worker counts; '' for no Ray")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each row; the best round is kept")
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    info = machine()
    rows: dict[str, Any] = {}

    def best(name: str, runs: list[dict[str, Any]]) -> None:
        rows[name] = max(runs, key=lambda r: float(r["items_per_s"]))
        r = rows[name]
        print(f"{name:>8}: {r['items_per_s']:8.1f} items/s  ({r['wall_s']:.2f} s wall)", flush=True)

    best("direct", [asyncio.run(direct(args.items, args.concurrency)) for _ in range(args.rounds)])
    best("local", [asyncio.run(batch(args.items, args.concurrency, "local")) for _ in range(args.rounds)])
    overhead = rows["local"]["cpu_us_per_item_this_process"] - rows["direct"]["cpu_us_per_item"]
    local_cpu, direct_cpu = rows["local"]["cpu_us_per_item_this_process"], rows["direct"]["cpu_us_per_item"]
    print(f"batch machinery overhead: {overhead:.0f} µs CPU per item (direct {direct_cpu:.0f}, local {local_cpu:.0f})")
    counts = [int(w) for w in args.ray_workers.split(",") if w.strip()]
    if counts:
        from modelyard.testing.ray_cluster import ray_cluster

        with ray_cluster(worker_nodes=1) as cluster:
            for w in counts:
                best(f"ray-{w}", [asyncio.run(batch(args.items, args.concurrency, "ray", cluster.address, w))
                                  for _ in range(args.rounds)])
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    doc = {"bench": "batch", "machine": info, "settings": vars(args) | {"save": str(args.save)},
           "results": rows, "overhead_cpu_us_per_item": overhead}
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
