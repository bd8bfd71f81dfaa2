"""Show an N-model `FrontierReport`: a rich table, a markdown table and a cost–quality plot.

Costs are shown per 1,000 prompts in the dataset's cost unit; quality in the score's
unit (`modelyard.eval.scale`); AIQ as a fraction of the score range.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.frontier import FrontierReport, FrontierResult
from modelyard.eval.scale import ScoreScale

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["frontier_markdown", "frontier_rows", "frontier_table", "plot_frontier"]


def _ci(r: FrontierResult, key: str, fmt: str, scale: float = 1.0) -> str:
    if key not in r.ci:
        return ""
    lo, hi = r.ci[key]
    return f" [{lo * scale:{fmt}}, {hi * scale:{fmt}}]"


def _ci_q(r: FrontierResult, key: str, scale: ScoreScale) -> str:
    if key not in r.ci:
        return ""
    lo, hi = r.ci[key]
    return f" [{scale.format(lo)}, {scale.format(hi)}]"


def frontier_rows(report: FrontierReport, scale: ScoreScale) -> list[list[str]]:
    """One row per router, oracle, random, best single and cheapest single model:
    name, quality, cost / 1k, AIQ, AIQ − random, cost to reach the best model's quality."""

    def q(v: float) -> str:
        return scale.format(v)

    def money(v: float) -> str:
        return "—" if math.isnan(v) else f"{v * 1000:.3f}"

    rows: list[list[str]] = []
    best = report.get(report.best_single)
    cheap = report.get(report.cheapest)
    for r in report.results:
        m = r.metrics
        if r.kind == "model":
            continue
        at_best = m["cost_at_best"]  # routers, the oracle and the random model mix alike: read off their hulls
        quality = f"{q(m['quality_at_best_cost'])}{_ci_q(r, 'quality_at_best_cost', scale)} @ best's cost"
        cost = (
            f"{money(at_best)}{_ci(r, 'cost_at_best', '.3f', 1000)} @ best's quality"
            if not math.isnan(at_best)
            else f"never reaches {q(best.metrics['quality'])}"
        )
        rows.append(
            [
                r.name,
                r.kind,
                quality,
                cost,
                f"{m['aiq']:.3f}{_ci(r, 'aiq', '.3f')}",
                "" if r.kind == "random" else f"{m['aiq_over_random']:+.3f}{_ci(r, 'aiq_over_random', '+.3f')}",
            ]
        )
    for label, r in (("best single", best), ("cheapest", cheap)):
        m = r.metrics
        rows.append(
            [
                f"{r.name} ({label})",
                "model",
                f"{q(m['quality'])}{_ci_q(r, 'quality', scale)}",
                money(m["cost"]),
                "—",  # one point: AIQ is defined for a cost range, not a single model
                "",
            ]
        )
    return rows


HEADERS = ["router", "kind", "quality [95% CI]", "cost / 1k prompts [95% CI]", "AIQ [95% CI]", "AIQ − random [95% CI]"]


def frontier_table(report: FrontierReport, scale: ScoreScale) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{report.dataset} (n={report.n_prompts}, {len(report.models)} models) — cost–quality frontier")
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("router", "kind") else "right")
    for row in frontier_rows(report, scale):
        table.add_row(*(escape(c) for c in row))
    return table


def frontier_markdown(report: FrontierReport, scale: ScoreScale) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in frontier_rows(report, scale)]
    return "\n".join(lines)


def plot_frontier(report: FrontierReport, dataset: OutcomeDataset, path: Path) -> Path:
    """Quality against cost per 1k prompts (log axis): every model, each router's hull, oracle, random."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = dataset.scale
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for r in report.results:
        if r.kind == "model":
            ax.scatter(r.metrics["cost"] * 1000, scale.display(r.metrics["quality"]), color="black", s=18, zorder=3)
            ax.annotate(
                r.name.split("/")[-1],
                (r.metrics["cost"] * 1000, scale.display(r.metrics["quality"])),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
            continue
        hc, hq = r.hull()
        style = {"oracle": ("tab:green", "--"), "random": ("grey", ":")}.get(r.kind, (None, "-"))
        ax.plot(
            hc * 1000,
            scale.display(hq),
            linestyle=style[1],
            color=style[0],
            label=f"{r.name} (AIQ {r.metrics['aiq']:.3f})",
            drawstyle="default",
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"cost per 1k prompts ({report.cost_unit}, log)")
    ax.set_ylabel(scale.axis_label)
    ax.set_title(f"{report.dataset}: n={report.n_prompts}, test split")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
