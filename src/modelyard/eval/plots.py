"""Cost-quality plots (matplotlib, Agg backend: works headless, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.eval.sweep import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_figure", "plot_report"]


def plot_report(report: Report, path: Path) -> Path:
    """Write `plot_figure` as a PNG to ``path``; returns ``path``."""
    import matplotlib.pyplot as plt

    fig = plot_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_figure(report: Report) -> Figure:
    """Two panels: quality vs strong-call share (left) and vs cost per 1k prompts (right).

    Quality axes are in the scores' unit (``report.scale``): percent on the
    [0, 1] scale, mean score with its range otherwise. The caller closes it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_share, ax_cost) = plt.subplots(1, 2, figsize=(13, 5.2))
    band = report.random
    per_k = 1000.0
    q_unit = report.scale
    ax_share.fill_between(
        band.shares * 100,
        q_unit.display(band.lo),
        q_unit.display(band.hi),
        color="grey",
        alpha=0.25,
        label="random (95% band over seeds)",
    )
    ax_share.plot(band.shares * 100, q_unit.display(band.mean), color="grey", linestyle=":", label="random (mean)")
    styles = {"baseline": "-", "router": "-", "cascade": "--"}
    for res in report.results:
        if res.kind == "baseline" and res.name.startswith(("always", "random")):
            continue
        style = styles[res.kind]
        color = "black" if res.name == "oracle" else None
        apgr = res.metrics.get("apgr", float("nan"))
        label = f"{res.name} (APGR {apgr:.3f})"
        ax_share.plot(
            res.curve.shares * 100,
            q_unit.display(res.curve.quality),
            linestyle=style,
            color=color,
            linewidth=1.4,
            label=label,
        )
        ax_cost.plot(
            res.curve.cost * per_k,
            q_unit.display(res.curve.quality),
            linestyle=style,
            color=color,
            linewidth=1.4,
            label=res.name,
        )
    for res in report.results:
        if res.name in ("always-weak", "always-strong"):
            q = float(q_unit.display(res.metrics["quality"]))
            label = f"{res.name} ({q_unit.format(res.metrics['quality'])})"
            color = "tab:red" if res.name == "always-strong" else "tab:blue"
            ax_share.axhline(q, color=color, linestyle="-.", linewidth=0.9, label=label)
            ax_cost.scatter([res.metrics["cost"] * per_k], [q], color=color, zorder=5, label=res.name)
    rand = next(r for r in report.results if r.name.startswith("random"))
    ax_cost.plot(
        rand.curve.cost * per_k,
        q_unit.display(rand.curve.quality),
        color="grey",
        linestyle=":",
        label="random (seed 0)",
    )
    ax_share.set_xlabel("strong-model calls (%)")
    ax_share.set_ylabel(q_unit.axis_label)
    ax_share.set_title(f"{report.dataset}: quality vs strong calls (n={report.n_prompts})")
    ax_share.legend(fontsize=7, loc="lower right")
    ax_share.grid(alpha=0.3)
    unit = "USD" if report.cost_unit == "usd" else report.cost_unit
    ax_cost.set_xlabel(f"cost per 1,000 prompts ({unit}; cascades pay the weak call too)")
    ax_cost.set_ylabel(q_unit.axis_label)
    ax_cost.set_title(f"{report.dataset}: quality vs cost")
    ax_cost.legend(fontsize=7, loc="lower right")
    ax_cost.grid(alpha=0.3)
    fig.tight_layout()
    return fig
