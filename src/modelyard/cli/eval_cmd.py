"""``modelyard eval``: offline cost-quality evaluation of strong/weak routers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from modelyard.cli.common import console, fail

if TYPE_CHECKING:
    from modelyard.eval.sweep import Report

__all__ = ["metrics_legend", "metrics_table", "register"]


def _pct(v: float | None) -> str:
    return "—" if v is None or math.isnan(v) else f"{v * 100:.1f}%"


def _ci(res_ci: dict[str, tuple[float, float]], key: str) -> str:
    lo, hi = res_ci.get(key, (math.nan, math.nan))
    return "" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"


def _num(v: float, digits: int = 3) -> str:
    return "—" if math.isnan(v) else f"{v:.{digits}f}"


def metrics_table(report: Report) -> Table:
    """Rows: every router, cascade and baseline, then RouteLLM's published numbers.

    Quality is in the scores' unit (``report.scale``): a percentage only on the
    [0, 1] scale, else mean scores with the range in the header. AIQ is a
    fraction of the score range; APGR is a ratio; CPT a share of strong calls.
    """
    from modelyard.eval.published import PUBLISHED

    scale = report.scale
    table = Table(
        title=f"{report.dataset} (n={report.n_prompts}) — strong {report.strong} / weak {report.weak}"
    )
    quality_col = f"quality ({scale.unit})"
    for col in ("router", "kind", "APGR [95% CI]", "CPT(20%)", "CPT(50%)", "CPT(80%)", "AIQ (norm.)", quality_col):
        table.add_column(col, justify="left" if col in ("router", "kind") else "right")
    for res in report.results:
        m = res.metrics
        if "apgr" not in m:  # a single point: always-weak / always-strong
            table.add_row(escape(res.name), res.kind, "—", "", "", "", "", scale.format(m["quality"]))
            continue
        apgr = "—" if math.isnan(m["apgr"]) else f"{m['apgr']:.3f}{_ci(res.ci, 'apgr')}"
        table.add_row(
            escape(res.name),
            res.kind,
            apgr,
            _pct(m["cpt20"]),
            _pct(m["cpt50"]),
            _pct(m["cpt80"]),
            _num(m["aiq"]),
            f"{scale.format(m['weak_quality'])} → {scale.format(m['strong_quality'])}",
        )
    base = report.dataset.split("-")[0]
    published = PUBLISHED.get(base, {}) if scale.is_unit else {}  # the paper's numbers are 0/1 correctness
    for name, pub in published.items():
        table.add_row(
            f"[dim]{name}[/]",
            "[dim]paper[/]",
            f"[dim]{pub['apgr']:.3f}[/]",
            "",
            _pct(pub["cpt50"]),
            _pct(pub["cpt80"]),
            "",
            "",
        )
    return table


def metrics_legend(report: Report) -> str:
    """The units line printed under the table."""
    cost_range = report.settings["aiq_cost_range"]
    assert isinstance(cost_range, list)
    c_lo, c_hi = float(cost_range[0]), float(cost_range[1])
    lo, hi = report.scale.lo, report.scale.hi
    return (
        f"Quality: {report.scale.describe()}. "
        "APGR: area under PGR on 0..100% strong calls (11 points; a ratio, the same on any score scale); "
        "CPT(x%): strong-call share to recover x% of the gap; "
        f"AIQ: mean quality on the cost hull over [{c_lo:.2e}, {c_hi:.2e}] {report.cost_unit}/prompt, "
        f"normalised to the score range (0 = score {lo:g}, 1 = score {hi:g})."
    )


def eval_command(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="mmlu, gsm8k, routerbench:<arc_challenge|mbpp|winogrande>:<train|test>, or a .jsonl outcomes "
            "file (more than two models: the N-model frontier report).",
        ),
    ] = "gsm8k",
    router: Annotated[
        list[str] | None,
        typer.Option(
            "--router",
            "-r",
            help="Threshold-router artefact (path or name of a shipped one), "
            "or cascade:verifier[+artefact], or a quality_cost (N-model) artefact. Repeatable.",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="auto (MMLU: held-out test split), all, train, val, test.")
    ] = "auto",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the JSON result and PNG plot.")
    ] = Path("eval-results"),
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples of prompts for the CIs (0 = none).")
    ] = 1000,
    random_seeds: Annotated[int, typer.Option(help="Seeds for the random-routing band.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap.")] = 0,
    strong: Annotated[str, typer.Option(help="Strong model column.")] = "gpt-4-1106-preview",
    weak: Annotated[str, typer.Option(help="Weak model column.")] = "mistralai/Mixtral-8x7B-Instruct-v0.1",
    score_range: Annotated[
        str | None,
        typer.Option(
            "--score-range",
            help="Worst,best score, e.g. 1,10 or -5,5 (overrides the file's score_range). "
            "Default: as declared, else [0, 1] if every score fits, else the observed min,max.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Sweep each router's threshold; print APGR, CPT(20/50/80%), AIQ against random, oracle and
    always-weak/strong; write eval_<dataset>.json and eval_<dataset>.png."""
    from modelyard.eval.runner import EvalRequest, run_eval
    from modelyard.eval.scale import parse_score_range

    try:
        declared = parse_score_range(score_range) if score_range is not None else None
    except ValueError as exc:
        fail(f"--score-range: {exc}")
    if _n_model(dataset, router or []):
        from modelyard.cli.eval_frontier import frontier_command

        frontier_command(dataset, list(router or []), out=out, bootstrap=bootstrap, seed=seed, score_range=declared)
        return
    refs = list(router or ["mmlu-minilm-logreg"])
    request = EvalRequest(
        dataset=dataset,
        routers=refs,
        split=split,
        strong=strong,
        weak=weak,
        bootstrap=bootstrap,
        random_seeds=random_seeds,
        seed=seed,
        score_range=declared,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        embed_task = progress.add_task("embedding prompts", total=None)
        boot_task = progress.add_task("bootstrap", total=None, visible=False)

        def on_embed(done: int, total: int) -> None:
            progress.update(embed_task, completed=done, total=max(total, 1))

        def on_tick() -> None:
            progress.update(boot_task, advance=1, visible=True)

        n_curves = len(refs) + 1  # routers + oracle
        progress.update(boot_task, total=bootstrap * n_curves)
        try:
            report, paths = run_eval(request, out_dir=out, progress=on_embed, tick=on_tick)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            fail(str(exc))
    console.width = max(console.width, 140)  # the metrics table has nine columns
    console.print(metrics_table(report))
    console.print(metrics_legend(report), style="dim", highlight=False)
    console.print(f"wrote {paths['json']} and {paths['png']}")


def _n_model(dataset: str, refs: list[str]) -> bool:
    """N-model mode: a RouterBench spec, an outcome file with other than two models, or a quality_cost router."""
    from modelyard.eval.frontier_runner import is_quality_cost_ref

    if dataset.startswith("routerbench:") or any(is_quality_cost_ref(r) for r in refs):
        return True
    if dataset.endswith(".jsonl") and Path(dataset).is_file():
        from modelyard.eval.datasets import load_jsonl

        try:
            return len(load_jsonl(Path(dataset)).models) != 2
        except ValueError as exc:
            fail(str(exc))
    return False


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
