"""``modelyard calibrate`` and ``modelyard train-threshold`` for the strong/weak router."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from modelyard.cli.common import console, fail

__all__ = ["register"]

_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


def _read_prompts(path: Path) -> list[str]:
    """``.jsonl`` objects with ``prompt``, built-in ``mmlu``/``gsm8k``, or one prompt per line."""
    if str(path) in ("mmlu", "gsm8k") or path.suffix == ".csv":
        from modelyard.eval.datasets import load_dataset

        return list(load_dataset(str(path)).prompts)
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        return [str(json.loads(line)["prompt"]) for line in lines if line.strip() and '"prompt"' in line]
    return [line for line in lines if line.strip()]


def calibrate(
    router: Annotated[
        str,
        typer.Option(
            "--router", "-r", help="Threshold-router artefact, or a quality_cost artefact (path or shipped name)."
        ),
    ] = "mmlu-minilm-logreg",
    strong_share: Annotated[
        float, typer.Option(help="Target share of requests sent to the strong model (0..1).")
    ] = 0.5,
    prompts: Annotated[
        Path | None,
        typer.Option(
            help="Prompts like your traffic (.txt one per line, .jsonl with 'prompt', or mmlu/gsm8k). "
            "Default: the MMLU validation quantiles stored in the artefact."
        ),
    ] = None,
    from_logs: Annotated[
        str | None,
        typer.Option(
            "--from-logs",
            help="Calibrate on the prompts in telemetry records (SQLite/JSONL file or postgres:ENV; "
            "needs telemetry.capture_text).",
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="With --from-logs: records since 7d, 24h, ….")] = None,
    requested: Annotated[
        str | None, typer.Option(help="With --from-logs: only requests that asked for this router or model.")
    ] = None,
    spend_per_1k: Annotated[
        float | None,
        typer.Option(help="With --from-logs: target USD per 1,000 requests instead of --strong-share."),
    ] = None,
    strong_cost: Annotated[
        str | None,
        typer.Option(help="With --spend-per-1k: USD per strong request, or a model name to average from the records."),
    ] = None,
    weak_cost: Annotated[
        str | None,
        typer.Option(help="With --spend-per-1k: USD per weak request, or a model name to average from the records."),
    ] = None,
) -> None:
    """Pick the threshold that sends ``--strong-share`` of prompts to the strong model."""
    import numpy as np

    from modelyard.errors import ModelLoadError
    from modelyard.routing.threshold import ThresholdScorer

    if not 0.0 <= strong_share <= 1.0:
        fail("--strong-share must be between 0 and 1")
    from modelyard.eval.frontier_runner import is_quality_cost_ref

    if is_quality_cost_ref(router):  # an N-model router: calibrate its λ to a spend on logged traffic
        from modelyard.cli.calibrate_logs import calibrate_lambda

        if from_logs is None or spend_per_1k is None:
            fail(f"{router} is a quality_cost router: give --from-logs DB and --spend-per-1k USD to set its lambda")
        calibrate_lambda(router, from_logs, spend_per_1k=spend_per_1k, since=since, requested=requested)
        return
    try:
        scorer = ThresholdScorer.load(router)
    except ModelLoadError as exc:
        fail(str(exc))
    if from_logs is not None:
        from modelyard.cli.calibrate_logs import calibrate_logs

        calibrate_logs(
            scorer,
            router,
            from_logs,
            strong_share=strong_share,
            since=since,
            requested=requested,
            spend_per_1k=spend_per_1k,
            strong_cost=strong_cost,
            weak_cost=weak_cost,
        )
        return
    if spend_per_1k is not None:
        fail("--spend-per-1k needs --from-logs (the spend is read against the logged traffic)")
    if prompts is None:
        threshold, source = scorer.threshold_for_share(strong_share), "artefact calibration (MMLU val)"
        n = None
    else:
        from modelyard.eval.embed_cache import cached_encode

        texts = _read_prompts(prompts)
        if not texts:
            fail(f"no prompts in {prompts}")
        max_length = int(scorer.artefact.meta["encoder"].get("max_length", 128))
        from modelyard.encoders import MiniLMEncoder

        with Progress(*_COLUMNS, console=console, transient=True) as progress:
            task = progress.add_task("embedding prompts", total=len(texts))
            vecs = cached_encode(
                MiniLMEncoder(max_length=max_length),
                texts,
                tag=f"max_length={max_length}",
                progress=lambda d, t: progress.update(task, completed=d, total=max(t, 1)),
            )
        scores = scorer.score_vectors(vecs)
        threshold = float(np.quantile(scores, 1.0 - strong_share))
        source, n = str(prompts), len(texts)
        share = float((scores >= threshold).mean())
    table = Table(title=f"calibration of {scorer.version}")
    table.add_column("setting")
    table.add_column("value", justify="right")
    table.add_row("target strong share", f"{strong_share:.1%}")
    table.add_row("threshold", f"{threshold:.6f}")
    table.add_row("calibrated on", source if n is None else f"{source} ({n} prompts, achieved {share:.1%})")
    console.print(table)
    console.print(
        f"YAML: {{kind: threshold, artefact: {router}, threshold: {threshold:.6f}, "
        "strong: <model>, weak: <model>}"
    )


def train_threshold(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where artefacts and selection.json go (default: shipped)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for every fit.")] = 0,
) -> None:
    """Train the MMLU score heads (logreg, kNN, MLP), choose by validation, save versioned artefacts."""
    from modelyard.encoders import MiniLMEncoder
    from modelyard.eval.train import CANDIDATES, MAX_LENGTH, default_out_dir, train_all

    out = out or default_out_dir()

    with Progress(*_COLUMNS, console=console) as progress:
        embed_task = progress.add_task("embedding MMLU", total=None)
        fit_task = progress.add_task("validating candidates", total=len(CANDIDATES))
        report = train_all(
            out,
            encoder=MiniLMEncoder(max_length=MAX_LENGTH),
            seed=seed,
            progress=lambda d, t: progress.update(embed_task, completed=d, total=max(t, 1)),
            tick=lambda label: progress.update(fit_task, advance=1, description=f"validated {label}"),
        )
    table = Table(title="validation APGR (MMLU val; never test)")
    for col in ("candidate", "in-domain", "unseen subjects", "criterion"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for row in sorted(report["candidates"], key=lambda r: -r["criterion"]):
        mark = " *" if row.get("selected_for_kind") else ""
        table.add_row(
            escape(row["label"]) + mark,
            f"{row['val_apgr']:.3f}",
            f"{row['val_unseen_subject_apgr']:.3f}",
            f"{row['criterion']:.3f}",
        )
    console.print(table)
    console.print(f"selected: {report['selected']}; artefacts in {out}")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
    app.command("train-threshold")(train_threshold)
