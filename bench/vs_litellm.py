"""modelyard vs LiteLLM proxy vs a bare pass-through: added latency and max sustained RPS.

All on 127.0.0.1, against one loopback upstream (``python -m
modelyard.testing.upstream``, answers at once):

- ``direct``      — the load generator calls the upstream itself (the baseline);
- ``passthrough`` — the practical floor: ~50 lines below (uvicorn + one pooled
                    keep-alive aiohttp client, or httpx; receive, parse JSON,
                    forward, return);
- ``modelyard``   — ``modelyard serve`` (1 worker) with a ``rules`` router,
                    retries, breakers, a fallback model, the safe default, telemetry
                    to a SQLite sink with metrics, and its access log;
- ``modelyard-2w``, ``modelyard-redis-1w``, ``modelyard-redis-2w`` (on request,
                    ``--targets``) — the same with 2 worker processes (``modelyard
                    serve --workers 2``; per-process state), and with breaker/limit
                    state shared on a local ``redis-server`` with 1 and 2 workers;
- ``modelyard-gc-default`` (on request) — ``modelyard`` with Python's own garbage
                    collector settings (``gateway.gc: {freeze: false, threshold: null}``),
                    to measure what ``modelyard.server.gctune`` changes in the same run;
- ``litellm``     — ``litellm --num_workers 1`` from its own venv
                    (``.cache/bench-litellm-venv``, made on first run), same model;
                    no database, no master key, telemetry and remote cost map off.

The load generator (``bench/_loadgen.py``) is a separate process: closed loop,
keep-alive, each run bounded by a request count and a time limit, after a
warm-up. Every concurrency level runs every target ``--rounds`` times, the
order rotating each round so machine noise spreads over all of them.

Added latency at concurrency c = pXX(target, c) − pXX(direct, c), each
quantile taken over all measured requests of all rounds at that level. Max
sustained RPS = the best, over concurrency levels with < 1 % errors, of the
median (over rounds) of successful replies per wall-clock second.

    .venv/bin/python bench/vs_litellm.py            # full run (~6 min)
    .venv/bin/python bench/vs_litellm.py --quick    # short run (~1 min)
    .venv/bin/python bench/vs_litellm.py --stream   # streaming: ``"stream": true``, 11 content chunks

With ``--stream`` every target is asked for a stream (the upstream sends its
answer as 3 SSE chunks); the pass-through relays the chunks as they arrive.
The report gives each gateway's CPU per request and its ratio to the
pass-through measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package: siblings by path
from _loadgen import descendants
from _passthrough import DUMMY_KEY, UPSTREAM_MODEL, serve_passthrough
from _vs_report import GATEWAYS, WORKER, plot, print_report, quantile, summarise

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VERSION = "1.106.2"  # the version measured; --litellm-version to try another
BODY = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France? Answer in one word."},
    ],
    "max_tokens": 16,
}

MODELYARD_CONFIG = """
version: 1
models:
  primary: &upstream
    family: llm
    provider: openai
    upstream_model: {model}
    base_url: {url}/v1
    api_key_env: BENCH_UPSTREAM_KEY
  backup: *upstream
routers:
  bench:
    kind: rules
    rules:
      - {{name: vision, when: {{has_image: true}}, target: primary}}
      - {{name: tools, when: {{has_tools: true}}, target: primary}}
      - {{name: labels, when: {{last_user_prefix: ["classify:", "sentiment:"]}}, target: primary}}
      - {{name: short, when: {{words_below: 64}}, target: [primary, backup]}}
    default: primary
resilience:
  retry: {{attempts: 2, base_delay_ms: 20}}
  breaker: {{enabled: true, failure_threshold: 5}}
  fallbacks: {{primary: [backup]}}
  safe_default: {{enabled: true}}
  state: {state}
telemetry:
  enabled: true
  metrics: true
  sinks: [{{kind: sqlite, path: '{records}'}}]
"""

LITELLM_CONFIG = """
model_list:
  - model_name: bench
    litellm_params:
      model: openai/{model}
      api_base: {url}/v1
      api_key: {key}
"""


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    body: bytes
    pids: list[int]


def ensure_litellm(venv: Path, version: str) -> str:
    """Make (or reuse) the venv holding ``litellm[proxy]==version``; return the installed version."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if python.exists():
        got = subprocess.run(probe, capture_output=True, text=True).stdout.strip()
        if got == version:
            return got
    if not python.exists():
        print(f"creating {venv} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"installing litellm[proxy]=={version} into {venv} (a few minutes) …", flush=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"litellm[proxy]=={version}",
        ],
        check=True,
    )
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(name: str, url: str, body: bytes, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until one real chat completion comes back 200 with the upstream's echo in it."""
    deadline = time.monotonic() + 180.0
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited ({process.returncode}); log tail:\n{log.read_text()[-2000:]}")
        try:
            reply = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=10)
            if reply.status_code == 200 and "echo:" in reply.text:
                return
            last = f"HTTP {reply.status_code}: {reply.text[:200]}"
        except httpx.TransportError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise SystemExit(f"{name} not serving after 180 s ({last}); log: {log}")


def litellm_env(workdir: Path) -> dict[str, str]:
    """LiteLLM with no database, no telemetry, no remote cost map: nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_HOST", "REDIS_URL"}}
    env.update(
        LITELLM_TELEMETRY="False",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        DISABLE_ADMIN_UI="True",
        LITELLM_LOG="ERROR",
        # no gateway keys on either side (modelyard runs without gateway.keys too)
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
        HOME=str(workdir),  # anything it caches stays in the temp dir
    )
    return env


@contextlib.contextmanager
def fleet(
    workdir: Path, venv: Path, names: list[str], client: str, body_template: dict[str, Any] | None = None
) -> Iterator[dict[str, Target]]:
    """Start the upstream and the gateways, each its own process; stop them (by pid) on exit."""
    bin_dir = Path(sys.executable).parent
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    chat = "/v1/chat/completions"
    template = body_template or BODY
    body = json.dumps(template).encode()
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = workdir / f"{name}.log"
        with log.open("wb") as sink:
            started.append(subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env))
        return started[-1]

    try:
        up = start(
            "upstream",
            [sys.executable, "-m", "modelyard.testing.upstream", "--port", str(up_port), "--uvloop"],
        )
        direct_body = json.dumps({**template, "model": UPSTREAM_MODEL}).encode()
        wait_serving("upstream", upstream + chat, direct_body, up, workdir / "upstream.log")
        targets = {"direct": Target("direct", upstream + chat, direct_body, [up.pid])}
        ports = {name: free_port() for name in names}
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        if "passthrough" in names:
            script = str(Path(__file__).resolve())
            port = str(ports["passthrough"])
            commands["passthrough"] = (
                [sys.executable, script, "--serve-passthrough", port, upstream, client],
                None,
            )
        redis_url = None
        if any(n.startswith("modelyard-redis") for n in names):
            redis_port = free_port()
            start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no"])  # fmt: skip
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            time.sleep(0.5)
        for name in (n for n in names if n.startswith("modelyard")):
            workers = "2" if name.endswith("-2w") else "1"
            state = f"{{backend: redis, url: '{redis_url}'}}" if "redis" in name else "{backend: memory}"
            cfg = workdir / f"{name}.yaml"
            records = workdir / f"{name}-records.db"
            text = MODELYARD_CONFIG.format(model=UPSTREAM_MODEL, url=upstream, records=records, state=state)
            if name.endswith("-gc-default"):  # Python's own collector settings, for the same-run comparison
                text += "gateway: {gc: {freeze: false, threshold: null}}\n"
            cfg.write_text(text)
            cmd = [str(bin_dir / "modelyard"), "serve", "--config", str(cfg), "--port", str(ports[name])]
            commands[name] = (
                [*cmd, "--workers", workers, "--log-level", "info"],
                {**os.environ, "BENCH_UPSTREAM_KEY": DUMMY_KEY},
            )
        if "litellm" in names:
            cfg = workdir / "litellm.yaml"
            cfg.write_text(LITELLM_CONFIG.format(model=UPSTREAM_MODEL, url=upstream, key=DUMMY_KEY))
            cmd = [str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1"]
            commands["litellm"] = (
                [*cmd, "--port", str(ports["litellm"]), "--num_workers", "1"],
                litellm_env(workdir),
            )
        for name, (cmd, env) in commands.items():
            process = start(name, cmd, env)
            url = f"http://127.0.0.1:{ports[name]}{chat}"
            wait_serving(name, url, body, process, workdir / f"{name}.log")
            if name.endswith("-2w"):  # both workers up: a few more answers, then count the processes
                for _ in range(20):
                    wait_serving(name, url, body, process, workdir / f"{name}.log")
            targets[name] = Target(name, url, body, descendants(process.pid))
        yield targets
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- measuring -----------------------------------------------------------------------------------


def one_run(target: Target, concurrency: int, args: argparse.Namespace, watch: dict[str, list[int]]) -> dict[str, Any]:
    """One bounded closed-loop run by a fresh load-generator process; its JSON result."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "_loadgen.py"),
        "--url", target.url,
        "--body", target.body.decode(),
        "--concurrency", str(concurrency),
        "--requests", str(args.requests),
        "--seconds", str(args.seconds),
        "--warmup", str(max(50, 4 * concurrency)),
        "--watch", json.dumps(watch),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 120)
    if done.returncode != 0:
        raise SystemExit(f"load generator failed on {target.name}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def workers_of(supervisor: int) -> list[int]:
    """The worker processes uvicorn's supervisor ``supervisor`` started (``multiprocessing`` spawn children)."""
    found = []
    for pid in descendants(supervisor):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                spawned = b"multiprocessing.spawn" in f.read()
        except (OSError, IndexError, ValueError):
            continue
        if parent == supervisor and spawned:
            found.append(pid)
    return sorted(found)


def measure(targets: dict[str, Target], levels: list[int], args: argparse.Namespace) -> dict[str, Any]:
    watch = {name: t.pids for name, t in targets.items()}
    runs: list[dict[str, Any]] = []
    names = list(targets)
    for name in names[1:]:  # first contact: lazy imports, connection pools, caches
        one_run(targets[name], 4, argparse.Namespace(requests=200, seconds=3.0), watch)
    time.sleep(1.0)  # telemetry writer processes start with the first batch: their CPU is the gateway's too
    watch = {name: descendants(t.pids[0]) for name, t in targets.items()}
    for name in [n for n in names if n.endswith("-2w")]:  # each worker with its writer process, counted apart
        for i, worker in enumerate(workers_of(targets[name].pids[0])):
            watch[f"{name}{WORKER}{i}"] = descendants(worker)
    print("processes counted per target: " + ", ".join(f"{n} {len(p)}" for n, p in watch.items()), flush=True)
    for concurrency in levels:
        for r in range(args.rounds):
            shift = (r + concurrency) % len(names)
            for name in names[shift:] + names[:shift]:
                got = one_run(targets[name], concurrency, args, watch)
                runs.append({"target": name, "concurrency": concurrency, "round": r, **got})
                n, errors = len(got["latencies_ms"]), got["errors"]
                print(
                    f"  c={concurrency:<3} round {r + 1}/{args.rounds} {name:<12} {n:>6} ok {errors:>4} err "
                    f"{n / got['wall_s'] if got['wall_s'] else 0:>8,.0f} rps",
                    flush=True,
                )
    return {"runs": runs}


def compact(run: dict[str, Any]) -> dict[str, Any]:
    """A run as saved: its own p50/p99 and throughput instead of every latency sample."""
    latencies = run.pop("latencies_ms")
    rps = len(latencies) / run["wall_s"] if run["wall_s"] else 0.0
    return {
        **run,
        "ok": len(latencies),
        "p50_ms": quantile(latencies, 0.5),
        "p99_ms": quantile(latencies, 0.99),
        "rps": rps,
    }


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "modelyard_commit": commit.stdout.strip(),
        "modelyard_uncommitted_src_files": len(dirty.stdout.splitlines()),
    }


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--serve-passthrough":
        serve_passthrough(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="concurrency 1,16; 1 round of ≤2 s per run")
    parser.add_argument("--concurrency", default="1,4,16,64", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=5000, help="max measured requests per run")
    parser.add_argument("--seconds", type=float, default=5.0, help="max seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per target per level, order rotating")
    parser.add_argument("--targets", default="passthrough,modelyard,litellm", help="gateways to compare")
    parser.add_argument(
        "--passthrough-client",
        choices=["aiohttp", "httpx"],
        default="aiohttp" if importlib.util.find_spec("aiohttp") else "httpx",
        help="the pass-through's pooled client (default: aiohttp when installed, the cheaper of the two)",
    )
    parser.add_argument("--litellm-version", default=LITELLM_VERSION, help="pip pin for litellm[proxy]")
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".cache" / "bench-litellm-venv", help="LiteLLM's venv (reused)"
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "vs_litellm.json", help="results file"
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "vs_passthrough.png", help="PNG")
    parser.add_argument("--from-json", type=Path, help="only print and plot a saved result (no measuring)")
    parser.add_argument("--stream", action="store_true", help='ask every target for a stream ("stream": true)')
    args = parser.parse_args(argv)
    if args.stream and args.json == ROOT / "bench" / "results" / "vs_litellm.json":
        args.json = ROOT / "bench" / "results" / "vs_litellm_stream.json"
    if args.stream and args.plot == ROOT / "docs" / "img" / "vs_passthrough.png":
        args.plot = ROOT / "docs" / "img" / "vs_passthrough_stream.png"
    if args.from_json is not None:
        saved: dict[str, Any] = json.loads(args.from_json.read_text())
        print_report(saved)
        plot(saved, args.plot)
        return
    if args.quick:
        args.concurrency, args.rounds, args.seconds, args.requests = "1,16", 1, 2.0, 1000
    levels = [int(x) for x in args.concurrency.split(",")]
    names = [n for n in args.targets.split(",") if n]
    if unknown := [n for n in names if n not in GATEWAYS]:
        parser.error(f"--targets: unknown {', '.join(unknown)}; choose from {', '.join(GATEWAYS)}")
    info = machine()
    if "litellm" in names:
        info["litellm_version"] = ensure_litellm(args.venv, args.litellm_version)
        print(f"LiteLLM proxy {info['litellm_version']} in {args.venv}", flush=True)
    info["load_average_before"] = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-vs-litellm-") as tmp,
        fleet(Path(tmp), args.venv, names, args.passthrough_client, {**BODY, "stream": args.stream}) as targets,
    ):
        print(f"measuring {', '.join(targets)} at concurrency {levels}, {args.rounds} round(s) each", flush=True)
        raw = measure(targets, levels, args)
        time.sleep(1.5)  # the sinks' last flush
        info["modelyard_records_written"] = {
            db.name.removesuffix("-records.db"): sqlite3.connect(db)
            .execute("SELECT COUNT(*) FROM records")
            .fetchone()[0]
            for db in Path(tmp).glob("*-records.db")
        }
        info["modelyard_requests_answered"] = {
            name: sum(len(r["latencies_ms"]) for r in raw["runs"] if r["target"] == name)
            for name in targets
            if name.startswith("modelyard")
        }
    info["load_average_after"] = os.getloadavg()
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result: dict[str, Any] = {"machine": info, "settings": settings, **summarise(raw["runs"], levels)}
    result["runs"] = [compact(run) for run in raw["runs"]]  # per-run quantiles, not every sample
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print_report(result)
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(result, args.plot)
    print(f"results: {args.json}  plot: {args.plot}")


if __name__ == "__main__":
    main()
