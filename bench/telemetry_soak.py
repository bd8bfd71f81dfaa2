"""Telemetry soak: the gateway at its maximum sustained rate, and every answered request is a stored record.

All on 127.0.0.1: the loopback upstream (``python -m modelyard.testing.upstream``),
``modelyard serve`` (1 worker) with a rules router, retries, breaker,
fallback, safe default, metrics and a SQLite sink (``--postgres ENV_VAR`` adds a
PostgreSQL sink whose DSN that variable holds), and the closed-loop load
generator (``bench/_loadgen.py``, c=16 keep-alive connections: the most the
gateway answers per second on this machine) for ``--seconds``.

Every second the gateway's ``/metrics`` is read: each sink's queue depth,
records written, dropped, failed. At the end (after the writer drains) the
bench counts the rows in the store and fails unless records stored =
requests answered, drops = 0 and failures = 0. Results go to
``bench/results/telemetry_soak.json`` with the machine's load average.

    .venv/bin/python bench/telemetry_soak.py --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package: siblings by path
from vs_litellm import BODY, DUMMY_KEY, MODELYARD_CONFIG, UPSTREAM_MODEL, free_port, wait_serving

RESULTS = Path(__file__).resolve().parent / "results" / "telemetry_soak.json"
_METRIC = re.compile(
    r'^modelyard_telemetry_(queue_depth|written_total|dropped_total|failed_total)\{sink="([^"]+)"\} (\S+)$'
)


def sink_metrics(url: str) -> dict[str, dict[str, float]]:
    """{sink: {queue_depth, written_total, dropped_total, failed_total}} from /metrics."""
    out: dict[str, dict[str, float]] = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        m = _METRIC.match(line)
        if m:
            out.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--postgres", metavar="ENV_VAR", help="also a PostgreSQL sink, DSN in this variable")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="modelyard-soak-"))
    db = work / "records.db"
    config = MODELYARD_CONFIG.format(model=UPSTREAM_MODEL, url="{url}", records=db, state="{backend: memory}")
    if args.postgres:
        sqlite_sink = f"{{kind: sqlite, path: '{db}'}}"
        pg_schema = f"soak_{uuid.uuid4().hex[:8]}"  # a fresh schema: counts start at zero
        pg_sink = f"{{kind: postgres, dsn_env: {args.postgres}, schema: {pg_schema}}}"
        config = config.replace(sqlite_sink, f"{sqlite_sink}, {pg_sink}")
    processes: list[subprocess.Popen[bytes]] = []
    load_before = os.getloadavg()
    try:
        up_port, gw_port = free_port(), free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        chat = "/v1/chat/completions"
        body = json.dumps(BODY).encode()
        with (work / "upstream.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "modelyard.testing.upstream", "--port", str(up_port), "--uvloop"],
                stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        wait_serving("upstream", upstream + chat, json.dumps({**BODY, "model": UPSTREAM_MODEL}).encode(),
                     processes[0], work / "upstream.log")  # fmt: skip
        cfg = work / "modelyard.yaml"
        cfg.write_text(config.replace("{url}", upstream))
        modelyard = str(Path(sys.executable).parent / "modelyard")
        with (work / "gateway.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [modelyard, "serve", "--config", str(cfg), "--port", str(gw_port), "--workers", "1",
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "BENCH_UPSTREAM_KEY": DUMMY_KEY},
            ))  # fmt: skip
        gateway = f"http://127.0.0.1:{gw_port}"
        wait_serving("modelyard", gateway + chat, body, processes[1], work / "gateway.log")
        time.sleep(1.5)  # wait_serving's request(s) reach the store
        baseline = sqlite3.connect(db).execute("SELECT COUNT(*) FROM records").fetchone()[0]
        before = sink_metrics(gateway + "/metrics")

        samples: list[dict[str, Any]] = []
        done = threading.Event()

        def sample() -> None:
            began = time.monotonic()
            while not done.wait(1.0):
                with_t = {"t": round(time.monotonic() - began, 1), **sink_metrics(gateway + "/metrics")}
                samples.append(with_t)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cmd = [
            sys.executable, str(Path(__file__).resolve().parent / "_loadgen.py"),
            "--url", gateway + chat, "--body", body.decode(), "--concurrency", str(args.concurrency),
            "--requests", "100000000", "--seconds", str(args.seconds), "--warmup", "0",
        ]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 180)
        done.set()
        sampler.join()
        if run.returncode != 0:
            raise SystemExit(f"load generator failed: {run.stderr[-2000:]}")
        result = json.loads(run.stdout)
        answered = len(result["latencies_ms"])
        expected = baseline + answered
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # let the writer drain what is queued
            final = sink_metrics(gateway + "/metrics")
            if all(v.get("queue_depth", 0) == 0 for v in final.values()):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # one flush interval for the last batch
        final = sink_metrics(gateway + "/metrics")
        stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM records").fetchone()[0]
        rolled = sqlite3.connect(db).execute("SELECT SUM(n) FROM rollups WHERE span = 3600").fetchone()[0]
        stored_pg = rolled_pg = None
        if args.postgres:
            import psycopg

            with psycopg.connect(os.environ[args.postgres]) as pg:
                pg.execute(f'SET search_path TO "{pg_schema}"')
                stored_pg = int(pg.execute("SELECT COUNT(*) FROM records").fetchone()[0])  # type: ignore[index]
                rolled_pg = int(pg.execute("SELECT SUM(n) FROM rollups WHERE span = 3600").fetchone()[0])  # type: ignore[index]
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    depth = [max(v.get("queue_depth", 0) for k, v in s.items() if k != "t") for s in samples if len(s) > 1]
    out = {
        "when_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "answered": answered,
        "errors": result["errors"],
        "rps": answered / result["wall_s"],
        "records_stored_sqlite": stored,
        "rollup_total_sqlite": rolled,
        "records_stored_postgres": stored_pg,
        "rollup_total_postgres": rolled_pg,
        "expected_records": expected,
        "sinks_final": final,
        "sinks_before": before,
        "queue_depth_max": max(depth, default=0),
        "queue_depth_p50": sorted(depth)[len(depth) // 2] if depth else 0,
        "queue_depth_samples": depth,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"{args.seconds:.0f} s at c={args.concurrency}: {answered} answered ({out['rps']:.0f} rps), "
        f"{result['errors']} errors; stored {stored} (expected {expected}), rollups {rolled}"
        + (f"; PostgreSQL stored {stored_pg}, rollups {rolled_pg}" if args.postgres else "")
        + "; "
        f"queue depth max {out['queue_depth_max']:.0f}, median {out['queue_depth_p50']:.0f}; "
        f"sinks {json.dumps(final)}"
    )
    ok = (
        result["errors"] == 0
        and stored == expected
        and rolled == expected
        and all(
            v.get("dropped_total", 0) == 0 and v.get("failed_total", 0) == 0 and v.get("written_total", 0) >= expected
            for v in final.values()
        )
    )
    if not ok:
        raise SystemExit("FAILED: records stored != requests answered, or drops/failures")


if __name__ == "__main__":
    main()
