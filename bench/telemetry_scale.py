"""Telemetry views at scale: the dashboard summary and ``modelyard report`` over millions of records.

For each size (default 1,000,000 and 10,000,000) a fresh SQLite store is
bulk-filled with synthetic records (`modelyard.telemetry.synthetic.bulk_fill`:
the same rows and rollups the sink writes). The 1M store puts every record
in the last 15 minutes (the dashboard's default window); larger ones spread
over 7 days. Then:

- dashboard summary: what ``GET /dashboard/api/summary`` computes (`collect`
  + `summarize` over a `TelemetryHub` on that store), ``--repeats`` times per
  window (15 min, 1 h, 24 h, 7 d), p50 and p95;
- ``modelyard report --no-plots`` (and with plots) as a subprocess: wall time
  and peak RSS.

``--postgres ENV_VAR`` does the same on PostgreSQL (DSN in that variable;
the bench creates and drops its own schema). Results: ``bench/results/telemetry_scale.json``.

    .venv/bin/python bench/telemetry_scale.py                    # 1M and 10M on SQLite
    .venv/bin/python bench/telemetry_scale.py --sizes 1000000 --postgres PG_DSN
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from modelyard.config.telemetry import TelemetrySettings
from modelyard.telemetry import TelemetryHub
from modelyard.telemetry.sinks.postgres import PostgresSink
from modelyard.telemetry.sinks.sqlite import SqliteSink
from modelyard.telemetry.summary import collect, summarize
from modelyard.telemetry.synthetic import bulk_fill

RESULTS = Path(__file__).resolve().parent / "results" / "telemetry_scale.json"
WINDOWS = {"15 min": 900, "1 h": 3600, "24 h": 86_400, "7 d": 604_800}


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def time_summary(sink: SqliteSink | PostgresSink, repeats: int) -> dict[str, Any]:
    hub = TelemetryHub(TelemetrySettings(), {}, sinks=[sink])
    out: dict[str, Any] = {}
    try:
        for name, window in WINDOWS.items():
            took, requests = [], 0
            for _ in range(repeats):
                began = time.perf_counter()
                now = time.time()
                data = summarize(collect(hub, now - window, now), now=now, window_s=window)
                took.append((time.perf_counter() - began) * 1000)
                requests = data["totals"]["requests"]
            out[name] = {
                "records_in_window": requests,
                "p50_ms": statistics.median(took),
                "p95_ms": quantile(took, 0.95),
                "max_ms": max(took),
            }
            print(f"    summary {name:>6}: {requests:>10,} records  p50 {out[name]['p50_ms']:7.1f} ms  "
                  f"p95 {out[name]['p95_ms']:7.1f} ms", flush=True)  # fmt: skip
    finally:
        hub.close()
    return out


def time_report(db: str, plots: bool, env: dict[str, str]) -> dict[str, Any]:
    out_dir = tempfile.mkdtemp(prefix="modelyard-report-")  # removed below
    cmd = [str(Path(sys.executable).parent / "modelyard"), "report", "--db", db, "--out", out_dir]
    cmd.append("--plots" if plots else "--no-plots")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    took = time.perf_counter() - began
    shutil.rmtree(out_dir, ignore_errors=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"modelyard report failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
    first = done.stdout.splitlines()[0] if done.stdout else ""
    return {"seconds": took, "peak_rss_mb": max(rss, before) / 1024, "first_line": first}


def one_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    now = time.time()
    span = 840.0 if n <= 1_000_000 else 7 * 86_400 - 60
    start, end = now - span - 5, now - 5
    result: dict[str, Any] = {"records": n, "spread_s": span}
    work = Path(tempfile.mkdtemp(prefix="modelyard-scale-"))
    stores: list[tuple[str, SqliteSink | PostgresSink, str, dict[str, str]]] = []
    sqlite = SqliteSink(work / "records.db")
    stores.append(("sqlite", sqlite, str(sqlite.path), dict(os.environ)))
    if args.postgres:
        schema = f"scale_{uuid.uuid4().hex[:8]}"
        dsn = os.environ[args.postgres] + f" options='-c search_path={schema}'"
        env = {**os.environ, "SCALE_PG_DSN": dsn}
        stores.append(("postgres", PostgresSink("SCALE_PG_DSN", schema=schema, env=env), "postgres:SCALE_PG_DSN", env))
    for name, sink, db, env in stores:
        if name == "postgres" and n > args.postgres_max:
            continue
        print(f"  {name}: filling {n:,} records …", flush=True)
        sink.open()
        sink.close()
        began, cpu = time.perf_counter(), time.process_time()
        bulk_fill(sink.store, n, start, end, seed=11)
        fill = {"seconds": time.perf_counter() - began, "cpu_s": time.process_time() - cpu}
        print(f"    filled in {fill['seconds']:.1f} s ({n / fill['seconds']:,.0f} records/s)", flush=True)
        if isinstance(sink, SqliteSink):
            fill["db_mb"] = sink.path.stat().st_size / 1e6
        summary = time_summary(sink, args.repeats)
        report = time_report(db, plots=False, env=env)
        print(f"    modelyard report --no-plots: {report['seconds']:.1f} s, peak RSS {report['peak_rss_mb']:.0f} MB"
              f" — {report['first_line']}", flush=True)  # fmt: skip
        with_plots = time_report(db, plots=True, env=env)
        print(f"    modelyard report (3 plots):  {with_plots['seconds']:.1f} s", flush=True)
        result[name] = {"fill": fill, "summary": summary, "report": report, "report_with_plots": with_plots}
    shutil.rmtree(work, ignore_errors=True)  # 10M records are ~6.5 GB of SQLite
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeats", type=int, default=20, help="summary calls per window")
    ap.add_argument("--postgres", metavar="ENV_VAR", help="also PostgreSQL (DSN in this variable)")
    ap.add_argument("--postgres-max", type=int, default=1_000_000, help="largest size filled on PostgreSQL")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    out: dict[str, Any] = {
        "when_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "sizes": [],
    }
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"{n:,} records", flush=True)
        out["sizes"].append(one_size(n, args))
    out["load_average_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
