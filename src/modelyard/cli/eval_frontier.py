"""``modelyard eval`` on N-model outcomes: the frontier table (see `modelyard.eval.frontier`)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from modelyard.cli.common import console, fail

__all__ = ["frontier_command"]


def frontier_command(
    dataset: str,
    routers: list[str],
    *,
    out: Path,
    bootstrap: int,
    seed: int,
    score_range: tuple[float, float] | None,
) -> None:
    """Print the frontier table for ``dataset`` and write ``frontier_<name>.json`` / ``.png`` to ``out``."""
    from modelyard.errors import ModelLoadError
    from modelyard.eval.frontier_report import frontier_table
    from modelyard.eval.frontier_runner import FrontierRequest, run_frontier

    request = FrontierRequest(dataset=dataset, routers=routers, bootstrap=bootstrap, seed=seed, score_range=score_range)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        embed_task = progress.add_task("embedding prompts", total=None)
        boot_task = progress.add_task("bootstrap", total=max(bootstrap, 1), visible=bootstrap > 0)
        try:
            report, data, paths = run_frontier(
                request,
                out_dir=out,
                progress=lambda d, t: progress.update(embed_task, completed=d, total=max(t, 1)),
                tick=lambda: progress.update(boot_task, advance=1),
            )
        except (ValueError, KeyError, FileNotFoundError, ModelLoadError) as exc:
            fail(str(exc))
    console.width = max(console.width, 160)
    console.print(frontier_table(report, data.scale))
    best, cheap = report.get(report.best_single), report.get(report.cheapest)
    console.print(
        f"Quality: {data.scale.describe()}. Costs per 1,000 prompts in {report.cost_unit}. Best single model: "
        f"{report.best_single} ({data.scale.format(best.metrics['quality'])} at {best.metrics['cost'] * 1000:.3f}); "
        f"cheapest: {report.cheapest} ({data.scale.format(cheap.metrics['quality'])} at "
        f"{cheap.metrics['cost'] * 1000:.3f}). AIQ over [{report.cost_range[0]:.2e}, {report.cost_range[1]:.2e}] "
        f"{report.cost_unit}/prompt. Random = a random mix of single models (RouterBench's zero router). "
        "Intervals: 95% bootstrap over prompts.",
        style="dim",
        highlight=False,
    )
    console.print(f"wrote {paths['json']} and {paths['png']}")
