"""Numbers, tables and the plot of ``bench/vs_litellm.py``, from its raw runs.

Kept apart from the process juggling so the arithmetic can be read on its own:
added latency is a difference of pooled quantiles at the same concurrency,
max sustained RPS is the best per-level median throughput with < 1 % errors.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["GATEWAYS", "WORKER", "plot", "print_report", "quantile", "summarise"]

GATEWAYS = (
    "passthrough", "modelyard", "modelyard-gc-default", "modelyard-2w", "modelyard-redis-1w", "modelyard-redis-2w",
    "litellm",
)
MAX_ERROR_RATE = 0.01
#: ``<target>/worker<i>`` in a run's ``cpu_watch``: one worker process of a ``--workers N`` gateway.
WORKER = "/worker"
COLOURS = {
    "direct": "#888888",
    "passthrough": "#2a9d8f",
    "modelyard": "#e76f51",
    "modelyard-gc-default": "#e9c46a",
    "modelyard-2w": "#f4a261",
    "modelyard-redis-1w": "#9b5de5",
    "modelyard-redis-2w": "#f15bb5",
    "litellm": "#264653",
}


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (the value below which a share ``q`` of samples lie)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] if ordered else float("nan")


def _cell(runs: list[dict[str, Any]], target: str, cpus: int) -> dict[str, Any]:
    latencies = [x for run in runs for x in run["latencies_ms"]]
    ok, errors = len(latencies), sum(run["errors"] for run in runs)
    wall = sum(run["wall_s"] for run in runs)
    every = {name: sum(run["cpu_watch"].get(name, 0.0) for run in runs) for name in runs[0]["cpu_watch"]}
    watched = {k: v for k, v in every.items() if WORKER not in k}  # per-worker parts are already in their target
    loadgen = sum(run["cpu_s"] for run in runs)
    busy = sum(run["machine_busy_s"] for run in runs)
    gateway = watched.get(target, 0.0) if target != "direct" else 0.0
    upstream = watched.get("direct", 0.0)
    idle_gateways = sum(v for k, v in watched.items() if k not in {target, "direct"})
    others = max(0.0, busy - loadgen - sum(watched.values()))

    def per_request(seconds: float) -> float:
        return seconds * 1000.0 / ok if ok else float("nan")

    def cores(seconds: float) -> float:
        return seconds / wall if wall else float("nan")

    cell: dict[str, Any] = {
        "requests": ok,
        "errors": errors,
        "error_rate": errors / (ok + errors) if ok + errors else 1.0,
        "p50_ms": quantile(latencies, 0.50),
        "p99_ms": quantile(latencies, 0.99),
        "rps_per_round": [len(r["latencies_ms"]) / r["wall_s"] if r["wall_s"] else 0.0 for r in runs],
        "rps": statistics.median(len(r["latencies_ms"]) / r["wall_s"] if r["wall_s"] else 0.0 for r in runs),
        "cpu_ms_per_request": {
            "loadgen": per_request(loadgen),
            "gateway": per_request(gateway),
            "upstream": per_request(upstream),
        },
        "cores_busy": {
            "loadgen": cores(loadgen),
            "gateway": cores(gateway),
            "upstream": cores(upstream),
            "idle_gateways": cores(idle_gateways),
            "others": cores(others),
            "machine": cores(busy),
            "of": cpus,
        },
    }
    shares = []  # --workers N: how each round's load fell on the workers (accept imbalance shows here)
    for run in runs:
        parts = [v for k, v in run["cpu_watch"].items() if k.startswith(target + WORKER)]
        if parts and sum(parts) > 0:
            shares.append([round(v / sum(parts), 3) for v in parts])
    if shares:
        cell["worker_cpu_share_per_round"] = shares
    return cell


def summarise(runs: list[dict[str, Any]], levels: list[int]) -> dict[str, Any]:
    """Per (concurrency, target) cells, added latencies, max sustained RPS, ratios and goals."""
    cpus = os.cpu_count() or 1
    targets = list(dict.fromkeys(run["target"] for run in runs))
    cells: dict[str, dict[str, Any]] = {}
    for c in levels:
        direct = None
        for name in ["direct", *[t for t in targets if t != "direct"]]:
            mine = [r for r in runs if r["target"] == name and r["concurrency"] == c]
            if not mine:
                continue
            cell = _cell(mine, name, cpus)
            if name == "direct":
                direct = cell
            elif direct is not None:
                cell["added_p50_ms"] = cell["p50_ms"] - direct["p50_ms"]
                cell["added_p99_ms"] = cell["p99_ms"] - direct["p99_ms"]
            cells[f"{c}/{name}"] = cell
    summary: dict[str, Any] = {}
    for name in targets:
        sustained = [
            (cells[f"{c}/{name}"]["rps"], c) for c in levels if cells[f"{c}/{name}"]["error_rate"] < MAX_ERROR_RATE
        ]
        best = max(sustained, default=(0.0, None))
        low = cells[f"{levels[0]}/{name}"]
        summary[name] = {
            "max_sustained_rps": best[0],
            "at_concurrency": best[1],
            "added_p50_ms_at_lowest": low.get("added_p50_ms"),
            "added_p99_ms_at_lowest": low.get("added_p99_ms"),
            "cpu_ms_per_request": {str(c): cells[f"{c}/{name}"]["cpu_ms_per_request"]["gateway"] for c in levels},
        }
    if "passthrough" in summary:  # every gateway's CPU per request ÷ the pass-through's, same run, same level
        floor = summary["passthrough"]["cpu_ms_per_request"]
        for row in summary.values():
            row["cpu_over_passthrough"] = {c: _ratio(v, floor[c]) for c, v in row["cpu_ms_per_request"].items()}
    return {
        "levels": levels,
        "cells": cells,
        "summary": summary,
        "comparison": _compare(summary, cells, levels),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def _compare(summary: dict[str, Any], cells: dict[str, Any], levels: list[int]) -> dict[str, Any]:
    if not {"modelyard", "litellm"} <= summary.keys():
        return {}
    my, lite = summary["modelyard"], summary["litellm"]
    out: dict[str, Any] = {
        "litellm_over_modelyard_added_p50": {
            str(c): _ratio(cells[f"{c}/litellm"].get("added_p50_ms"), cells[f"{c}/modelyard"].get("added_p50_ms"))
            for c in levels
        },
        "modelyard_over_litellm_rps": _ratio(my["max_sustained_rps"], lite["max_sustained_rps"]),
    }
    lowest = str(levels[0])
    goals = {
        "10x_less_added_p50_than_litellm": (out["litellm_over_modelyard_added_p50"][lowest] or 0) >= 10,
        "10x_litellm_rps": (out["modelyard_over_litellm_rps"] or 0) >= 10,
    }
    if "passthrough" in summary:
        out["modelyard_over_passthrough_added_p50"] = _ratio(
            my["added_p50_ms_at_lowest"], summary["passthrough"]["added_p50_ms_at_lowest"]
        )
        goals["within_3x_passthrough_added_p50"] = (out["modelyard_over_passthrough_added_p50"] or 99) <= 3
    out["goals"] = goals
    return out


def _f(value: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if value is None or value != value else fmt.format(value)


def print_report(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=180)
    cells, levels = result["cells"], result["levels"]
    table = Table(title="added latency through each gateway (ms; loopback upstream)")
    heads = ["conc.", "target", "p50", "p99", "added p50", "added p99", "RPS", "err %"]
    heads += ["CPU ms/req: loadgen", "gateway", "upstream", "cores busy: ours", "others"]
    for head in heads:
        table.add_column(head, justify="right")
    for c in levels:
        for key in [k for k in cells if k.startswith(f"{c}/")]:
            cell, name = cells[key], key.split("/", 1)[1]
            cpu, busy = cell["cpu_ms_per_request"], cell["cores_busy"]
            ours = busy["loadgen"] + busy["gateway"] + busy["upstream"]
            table.add_row(
                str(c), name, _f(cell["p50_ms"]), _f(cell["p99_ms"]),
                _f(cell.get("added_p50_ms"), "{:+.2f}"), _f(cell.get("added_p99_ms"), "{:+.2f}"),
                f"{cell['rps']:,.0f}", f"{100 * cell['error_rate']:.1f}",
                _f(cpu["loadgen"], "{:.3f}"), _f(cpu["gateway"], "{:.3f}"), _f(cpu["upstream"], "{:.3f}"),
                f"{ours:.2f}/{busy['of']}", f"{busy['others'] + busy['idle_gateways']:.2f}",
            )  # fmt: skip
        table.add_section()
    console.print(table)
    summary = Table(title=f"summary (added latency at concurrency {levels[0]})")
    for head in ("gateway", "added p50", "added p99", "max sustained RPS", "at conc.", "CPU ms/req", "÷ pass-through"):
        summary.add_column(head, justify="right")
    for name, row in result["summary"].items():
        level = str(row["at_concurrency"] or levels[0])
        cpu_ms = (row.get("cpu_ms_per_request") or {}).get(level)
        ratio = (row.get("cpu_over_passthrough") or {}).get(level)
        summary.add_row(
            name, _f(row["added_p50_ms_at_lowest"], "{:+.2f}"), _f(row["added_p99_ms_at_lowest"], "{:+.2f}"),
            f"{row['max_sustained_rps']:,.0f}", str(row["at_concurrency"]), _f(cpu_ms, "{:.3f}"),
            _f(ratio, "{:.2f}×"),
        )  # fmt: skip
    console.print(summary)
    comparison = result.get("comparison") or {}
    if comparison:
        per_level = ", ".join(
            f"c={c}: {_f(v, '{:.1f}')}×" for c, v in comparison["litellm_over_modelyard_added_p50"].items()
        )
        console.print(f"LiteLLM added p50 ÷ modelyard added p50 — {per_level}")
        console.print(
            f"modelyard max RPS ÷ LiteLLM max RPS — {_f(comparison['modelyard_over_litellm_rps'], '{:.1f}')}×"
        )
        if "modelyard_over_passthrough_added_p50" in comparison:
            ratio = _f(comparison["modelyard_over_passthrough_added_p50"], "{:.1f}")
            console.print(f"modelyard added p50 ÷ pass-through added p50 at c={levels[0]} — {ratio}×")
        cpu = {n: cells[f"{levels[0]}/{n}"]["cpu_ms_per_request"]["gateway"] for n in result["summary"]}
        line = f"gateway CPU per request at c={levels[0]} (less sensitive to other load on the machine) — "
        line += ", ".join(f"{n} {cpu[n]:.2f} ms" for n in GATEWAYS if n in cpu)
        if {"modelyard", "litellm"} <= cpu.keys() and cpu["modelyard"] > 0:
            line += f"; LiteLLM ÷ modelyard {cpu['litellm'] / cpu['modelyard']:.1f}×"
        if {"modelyard", "passthrough"} <= cpu.keys() and cpu["passthrough"] > 0:
            line += f"; modelyard ÷ pass-through {cpu['modelyard'] / cpu['passthrough']:.1f}×"
        console.print(line)
        for goal, met in comparison["goals"].items():
            console.print(f"  goal {goal}: {'[green]met[/]' if met else '[red]missed[/]'}")
    for key, cell in cells.items():
        if "worker_cpu_share_per_round" in cell:
            rounds = ", ".join(
                f"{':'.join(f'{s:.0%}' for s in share)} → {rps:,.0f}"
                for share, rps in zip(cell["worker_cpu_share_per_round"], cell["rps_per_round"], strict=False)
            )
            console.print(f"{key}: CPU per worker → RPS, by round: {rounds} (the kernel's hand-out of connections)")
    m = result["machine"]
    dirty = m.get("modelyard_uncommitted_src_files", 0)
    console.print(
        f"{m['cpus']} × {m['cpu_model']}, Python {m['python']}, LiteLLM {m.get('litellm_version', '—')}, "
        f"modelyard {m['modelyard_commit']}{f' + {dirty} uncommitted src files' if dirty else ''}, "
        f"pass-through client {result['settings']['passthrough_client']}; "
        f"load average {m['load_average_before'][0]:.1f} before, "
        f"{m['load_average_after'][0]:.1f} after. 'cores busy: ours' = load generator + gateway + upstream "
        f"during the runs; 'others' = everything else on the machine (idle gateways, other users)."
    )


def plot(result: dict[str, Any], path: Path) -> None:
    """Added p50 (log scale) and throughput against concurrency, one line per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells, levels = result["cells"], result["levels"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in [*GATEWAYS, "direct"]:
        keys = [f"{c}/{name}" for c in levels if f"{c}/{name}" in cells]
        if not keys:
            continue
        xs = [int(k.split("/")[0]) for k in keys]
        if name != "direct":
            for q, style in (("added_p50_ms", "-o"), ("added_p99_ms", ":x")):
                ys = [max(0.01, cells[k][q]) for k in keys]
                label = f"{name} {'p50' if q == 'added_p50_ms' else 'p99'}"
                left.plot(xs, ys, style, color=COLOURS[name], label=label)
        right.plot(xs, [cells[k]["rps"] for k in keys], "-o", color=COLOURS[name], label=name)
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [str(c) for c in levels])
        axis.set_xlabel("concurrency (closed loop)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("added latency vs direct (ms, log; ≤0 drawn at 0.01)")
    right.set_yscale("log")
    right.set_ylabel("requests per second (median of rounds, log)")
    m = result["machine"]
    fig.suptitle(f"modelyard vs LiteLLM {m.get('litellm_version', '')} vs bare pass-through — {m['cpus']} shared cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
