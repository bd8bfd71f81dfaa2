"""Request-path overhead of telemetry: engine requests/s with telemetry on vs off.

SIMULATED models with zero latency, so the engine's own work is all there is
to measure and telemetry's share is as large as it can ever be. Rounds
alternate off / on to spread machine noise evenly; the table shows the median
of the rounds and the ratio on / off (1.00 = no overhead).

The sink must really write while requests are timed: at the end of every
timed window the records written must be within one flush interval's worth
of requests (plus one batch) of the requests sent, or the bench fails — an
event loop that starves the sink's writer thread no longer passes unnoticed.
The "lag" column is the worst such backlog seen (records not yet written).

Each sink's writer (``telemetry.writer``, default ``auto``: a child process for
SQLite and PostgreSQL) is timed too: CPU seconds of the sink's thread in this
process (its thread CPU clock) and of its writer process (/proc, in clock
ticks of 10 ms, so only over many records), per record written, over all rounds.

    .venv/bin/python bench/telemetry_overhead.py --writer thread     # the sink's thread writes
    .venv/bin/python bench/telemetry_overhead.py --postgres PG_DSN   # also a PostgreSQL column

    .venv/bin/python bench/telemetry_overhead.py                 # the table
    .venv/bin/python bench/telemetry_overhead.py --save          # and bench/results/telemetry_overhead.json
    .venv/bin/python bench/telemetry_overhead.py --fill out.db   # also keep a varied workload's records

``--fill`` runs a mixed workload (plain, cascade, council, fallbacks, budget
refusals, feedback) with simulated latencies and writes its records to a
SQLite file for ``modelyard report --db out.db``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _results import RESULTS, Run
from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.errors import ModelyardError
from modelyard.telemetry import Feedback
from modelyard.types import ChatRequest, RoutingHints

MODELS = """
version: 1
models:
  tiny:   {family: slm, provider: sim, price: {input: 0.05, output: 0.1}, latency_p50_ms: 30,
           options: {latency_ms: %(tiny)s, jitter: %(jitter)s, output_tokens: 40, seed: 1}}
  terse:  {family: slm, provider: sim, price: {input: 0.08, output: 0.15}, latency_p50_ms: 20,
           options: {latency_ms: %(tiny)s, jitter: %(jitter)s, text: "ok", label: false, seed: 2}}
  enc:    {family: mlm, provider: sim, price: {input: 0.01}, latency_p50_ms: 10,
           options: {latency_ms: %(tiny)s, jitter: %(jitter)s, output_tokens: 2, seed: 3}}
  mixer:  {family: moe, provider: sim, price: {input: 0.5, output: 1.5}, latency_p50_ms: 200,
           options: {latency_ms: %(mid)s, jitter: %(jitter)s, output_tokens: 120, seed: 4}}
  big:    {family: llm, provider: sim, price: {input: 3, output: 15}, latency_p50_ms: 900,
           options: {latency_ms: %(big)s, jitter: %(jitter)s, output_tokens: 300, seed: 5}}
  flaky:  {family: slm, provider: sim, price: {input: 0.05, output: 0.1}, latency_p50_ms: 30,
           options: {latency_ms: %(tiny)s, failure_rate: 0.3, seed: 6}}
  eyes:   {family: vlm, provider: sim, price: {input: 1, output: 3}, latency_p50_ms: 400,
           modalities: {input: [text, image], output: [text]},
           options: {latency_ms: %(mid)s, jitter: %(jitter)s, output_tokens: 80, seed: 7}}
routers:
  default: {kind: fixed, target: tiny}
  classify: {kind: fixed, target: enc}
  vision: {kind: fixed, target: eyes}
  cheap-first:
    kind: cascade
    judge: {kind: heuristic, min_chars: 40}
    gate: 0.7
    steps: [terse, mixer, big]
  panel: {kind: council, strategy: majority, members: [tiny, terse, mixer]}
  deep: {kind: fixed, target: big}
  shaky: {kind: fixed, target: flaky}
resilience:
  fallbacks: {flaky: [mixer]}
  budgets: {tenants: {trial: {daily_usd: 0.0}}}
"""

ZERO: dict[str, float] = {"tiny": 0, "mid": 0, "big": 0, "jitter": 0}
REAL = {"tiny": 15, "mid": 120, "big": 600, "jitter": 0.5}


def engine(telemetry: str, latencies: dict[str, float]) -> Engine:
    return Engine(parse_config(MODELS % latencies + telemetry, source="bench.yaml"))


async def rate(e: Engine, n: int, model: str) -> float:
    request = ChatRequest.from_text("How long does a quokka live?", model=model)
    started = time.perf_counter()
    for _ in range(n):
        await e.chat(request)
    return n / (time.perf_counter() - started)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(stat: Path) -> float:
    """User + system CPU seconds of a process or thread from its /proc stat file (0 when it is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def writer_cpu(e: Engine) -> list[tuple[str, float, float, int]]:
    """Per sink: (name, CPU s of its thread here, CPU s of its writer process, items written so far)."""
    hub = e.telemetry
    out = []
    for w in hub.workers if hub is not None else []:
        ident = w._thread.ident
        thread = time.clock_gettime(time.pthread_getcpuclockid(ident)) if ident and w._thread.is_alive() else 0.0
        pid = w.writer.pid if w.writer is not None else None
        child = _cpu_s(Path(f"/proc/{pid}/stat")) if pid is not None else 0.0
        out.append((w.sink.name, thread, child, w.stats().written))
    return out


def backlog(e: Engine, sent: int, rate_per_s: float) -> int | None:
    """Records not yet written at the end of a timed window; fails when the writer fell behind."""
    hub = e.telemetry
    if hub is None or not hub.workers:
        return None
    settings = hub.settings
    allowed = rate_per_s * (settings.flush_interval_ms / 1000.0 + 0.1) + settings.batch_size
    worst = 0
    for st in hub.sink_stats():
        lag = sent - st.written
        worst = max(worst, lag)
        assert st.dropped == 0 and st.failed == 0, f"{st.sink}: dropped {st.dropped}, failed {st.failed}"
        assert lag <= allowed, f"{st.sink} wrote {st.written} of {sent} records sent (allowed lag {allowed:.0f})"
    return worst


async def overhead(
    n: int, rounds: int, *, writer: str = "auto", postgres: str | None = None
) -> dict[str, dict[str, dict[str, object]]]:
    """Prints the table; returns {route: {variant: {rounds_rps, median_rps, ratio, max_lag, writer µs/record}}}."""
    saved: dict[str, dict[str, dict[str, object]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    variants = {
        "off": "telemetry: {enabled: false}\n",
        "metrics only": "telemetry: {}\n",
        "metrics + sqlite": f"telemetry: {{writer: {writer}, sinks: [{{kind: sqlite, path: '{tmp / 'b.db'}'}}]}}\n",
        "metrics + sqlite + spans": (
            f"telemetry: {{writer: {writer}, sinks: [{{kind: sqlite, path: '{tmp / 'c.db'}'}}], "
            "tracing: {enabled: true, exporter: memory}}\n"
        ),
    }
    if postgres:  # a fresh schema per run
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        variants["metrics + postgres"] = (
            f"telemetry: {{writer: {writer}, sinks: [{{kind: postgres, dsn_env: {postgres}, schema: {schema}}}]}}\n"
        )
    print(f"{n} sequential requests per round, {rounds} rounds, SIMULATED zero-latency models, writer: {writer}\n")
    print(f"{'route':<12} {'telemetry':<26} {'req/s (median)':>15} {'ratio on/off':>13} {'max lag':>8}")
    for model in ("default", "cheap-first"):
        engines = {name: engine(t, ZERO) for name, t in variants.items()}
        results: dict[str, list[float]] = {name: [] for name in variants}
        sent = dict.fromkeys(variants, 50)
        lags: dict[str, list[int]] = {name: [] for name in variants}
        for e in engines.values():  # warm up
            await rate(e, 50, model)
            if e.telemetry is not None:
                e.telemetry.flush(30)
        cpu_before = {name: writer_cpu(e) for name, e in engines.items()}
        for _ in range(rounds):
            for name, e in engines.items():
                results[name].append(await rate(e, n, model))
                sent[name] += n
                lag = backlog(e, sent[name], results[name][-1])  # at the end of the timed window
                if lag is not None:
                    lags[name].append(lag)
                if e.telemetry is not None and e.telemetry.spans is not None and e.telemetry.spans.memory:
                    e.telemetry.spans.memory.clear()
        base = statistics.median(results["off"])
        for e in engines.values():
            if e.telemetry is not None:
                e.telemetry.flush(30)
        for name in variants:
            med = statistics.median(results[name])
            lag_text = str(max(lags[name])) if lags[name] else "-"
            print(f"{model:<12} {name:<26} {med:>15.0f} {med / base:>13.2f} {lag_text:>8}")
            writers: dict[str, dict[str, object]] = {}
            saved.setdefault(model, {})[name] = {
                "rounds_rps": results[name],
                "median_rps": med,
                "ratio_to_off": med / base,
                "max_lag": max(lags[name]) if lags[name] else None,
                "writers": writers,
            }
            for (sink, t0, c0, w0), (_, t1, c1, w1) in zip(cpu_before[name], writer_cpu(engines[name]), strict=True):
                done = max(w1 - w0, 1)
                modes = [w.mode for w in engines[name].telemetry.workers if w.sink.name == sink]  # type: ignore[union-attr]
                per = {"thread_us_per_record": (t1 - t0) / done * 1e6, "process_us_per_record": (c1 - c0) / done * 1e6}
                print(
                    f"{'':<12} {'':<26} writer ({modes[0]}): {done} records, CPU per record "
                    f"{per['thread_us_per_record']:.1f} µs in the gateway's sink thread, "
                    f"{per['process_us_per_record']:.1f} µs in the writer process"
                )
                writers[sink.split("/")[-1]] = {"mode": modes[0], "written": done, **per}
        for e in engines.values():
            if e.telemetry is not None:
                stats = [(s.sink.split("/")[-1], s.written, s.dropped) for s in e.telemetry.sink_stats()]
                if stats:
                    print(f"{'':<12} sink (written, dropped): {stats}")
            await e.aclose()
    return saved


async def fill(db: Path, n: int, concurrency: int, seed: int) -> None:
    """A varied workload with simulated latencies, written to ``db``."""
    rng = random.Random(seed)
    e = engine(f"telemetry: {{sinks: [{{kind: sqlite, path: '{db}'}}]}}\n", REAL)
    mix = [("default", 50), ("classify", 18), ("cheap-first", 12), ("panel", 4), ("deep", 6), ("shaky", 6),
           ("vision", 4)]  # fmt: skip
    names = [m for m, w in mix for _ in range(w)]
    tenants = ["acme", "globex", "initech", "trial"]
    done: list[str] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        model = rng.choice(names)
        tenant = rng.choices(tenants, weights=[50, 30, 19, 1])[0]
        hints = RoutingHints(tenant=tenant)
        text = f"request {i}: " + " ".join(rng.choice(["quokka", "ledger", "refund", "shipping", "why"])
                                           for _ in range(rng.randint(3, 40)))  # fmt: skip
        async with sem:
            try:
                c = await e.chat(ChatRequest.from_text(text, model=model, hints=hints))
                done.append(c.trace.request_id)
            except ModelyardError:
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    assert e.telemetry is not None
    for rid in rng.sample(done, k=min(len(done), n // 10)):  # a tenth of the answers get feedback
        score = round(rng.betavariate(5, 2), 2)
        e.telemetry.feedback(Feedback(request_id=rid, time=time.time(), score=score))
    e.telemetry.flush()
    stats = e.telemetry.sink_stats()[0]
    await e.aclose()
    took = time.perf_counter() - started
    print(f"filled {db}: {stats.written} items ({len(done)} answered of {n}) in {took:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-n", type=int, default=2000, help="requests per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fill", type=Path, help="also write a varied workload's records to this SQLite file")
    ap.add_argument("--fill-n", type=int, default=3000)
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--writer", choices=["auto", "thread", "process"], default="auto", help="telemetry.writer")
    ap.add_argument("--postgres", metavar="ENV_VAR", help="also a PostgreSQL sink, DSN in this variable")
    ap.add_argument(
        "--save", type=Path, nargs="?", const=RESULTS / "telemetry_overhead.json", help="write the table as JSON"
    )
    args = ap.parse_args()
    if not args.skip_overhead:
        run = Run("telemetry_overhead", args.save, vars(args))
        results = asyncio.run(overhead(args.n, args.rounds, writer=args.writer, postgres=args.postgres))
        if (saved := run.save(results)) is not None:
            print(f"saved {saved}")
    if args.fill:
        asyncio.run(fill(args.fill, args.fill_n, 32, 7))


if __name__ == "__main__":
    main()
