"""``modelyard train`` — fit a classifier router on labelled JSONL and write its artefact."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.common import console, fail

if TYPE_CHECKING:
    from modelyard.routing.classifier.train import TrainResult

__all__ = ["print_metrics", "register"]


def train(
    out: Annotated[Path, typer.Option("--out", help="Where to write the router: a directory, or a file ending .npz.")],
    data: Annotated[Path | None, typer.Option("--data", help='Labelled JSONL: one {"text", "label"} per line.')] = None,
    test: Annotated[
        Path | None,
        typer.Option("--test", help="Held-out JSONL. Default: hold out 20% of --data by source group."),
    ] = None,
    head: Annotated[str, typer.Option(help="auto (choose by grouped CV), linear or mlp.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for CV folds and the MLP.")] = 0,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Embedding cache. Default: ~/.cache/modelyard/embeddings.")
    ] = None,
    from_logs: Annotated[
        str | None,
        typer.Option("--from-logs", help="Train on telemetry records (SQLite/JSONL file or postgres:ENV)."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="With --from-logs: records since 7d, 24h, ….")] = None,
    force: Annotated[bool, typer.Option(help="With --from-logs: replace --out even if worse.")] = False,
    baseline: Annotated[
        Path | None, typer.Option(help="With --from-logs: the live router's training JSONL, for drift.")
    ] = None,
    outcomes: Annotated[
        list[str] | None,
        typer.Option(
            "--outcomes",
            help="N-model outcome files (modelyard-outcomes/1 JSONL, or routerbench:<task>:train); repeatable. "
            "Trains a kind: quality_cost router instead of a classifier.",
        ),
    ] = None,
    quality_head: Annotated[
        str, typer.Option(help="With --outcomes: auto (choose by validation AIQ), knn, mlp, mf or ens.")
    ] = "auto",
) -> None:
    """Train a classifier router: MiniLM embeddings plus a small head.

    Labels may be families (slm, llm, moe, mlm, vlm, lam, sam, lcm) or model names.
    Prints cross-validation scores, held-out accuracy, macro-F1 and the confusion
    matrix, and records them in the artefact. Point a ``kind: classifier`` router's
    ``artefact:`` at the output to use it.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from modelyard.encoders import default_encoder
    from modelyard.errors import ModelyardError
    from modelyard.routing.classifier.train import CANDIDATES, load_labeled, split_holdout, train_router
    from modelyard.routing.embedding_cache import EmbeddingCache

    if outcomes:  # N-model outcomes → per-candidate quality predictor (kind: quality_cost)
        from modelyard.cli.train_quality import train_quality

        train_quality(outcomes, out, head=quality_head, seed=seed)
        return
    if from_logs is not None:  # telemetry records → labels → retrain; keeps the live router if worse
        from modelyard.cli.retrain_logs import train_from_logs

        train_from_logs(from_logs, out, since=since, force=force, baseline=baseline)
        return
    if data is None:
        fail("give --data FILE (labelled JSONL), --from-logs DB or --outcomes FILE")
    if head not in ("auto", "linear", "mlp"):
        fail(f"--head must be auto, linear or mlp, not {head!r}")
    candidates = [c for c in CANDIDATES if head in ("auto", c.kind)]
    try:
        labelled = load_labeled(data)
        if test is not None:
            train_set, test_set = labelled, load_labeled(test)
        else:
            train_set, test_set = split_holdout(labelled)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("loading encoder", total=None)
            result = train_router(
                train_set,
                test_set,
                default_encoder(),
                candidates=candidates,
                seed=seed,
                cache=EmbeddingCache(cache_dir),
                progress=lambda msg: progress.update(task, description=msg),
            )
        written = result.artefact.save(out)
    except ModelyardError as exc:
        fail(str(exc))
    print_metrics(result)
    console.print(f"[green]wrote[/] {written}", highlight=False)


def _pct(x: Any) -> str:
    return f"{100 * float(x):.1f}%"


def print_metrics(result: TrainResult) -> None:
    """CV table, held-out summary, per-label scores and the confusion matrix."""
    metrics = result.artefact.metrics
    if result.cv:
        cv = Table(title="grouped 5-fold CV on train (macro-F1)")
        cv.add_column("head")
        cv.add_column("macro-F1", justify="right")
        for name, score in sorted(result.cv.items(), key=lambda kv: -kv[1]):
            cv.add_row(name + ("  ← chosen" if name == result.chosen else ""), f"{score:.3f}")
        console.print(cv)
    test = metrics.get("test")
    if not test:
        console.print("[yellow]no held-out rows: nothing to report beyond CV[/]")
        return
    labels = result.artefact.labels
    console.print(
        f"held-out: n={test['n']}  accuracy={_pct(test['accuracy'])}  macro-F1={test['macro_f1']:.3f}",
        highlight=False,
    )
    per = Table(title="per label (held-out)")
    for col in ("label", "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == "label" else "right")
    for name in labels:
        p = test["per_label"][name]
        per.add_row(name, f"{p['precision']:.3f}", f"{p['recall']:.3f}", f"{p['f1']:.3f}", str(p["support"]))
    console.print(per)
    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("")
    for name in labels:
        cm.add_column(name, justify="right")
    for name, row in zip(labels, test["confusion"], strict=True):
        cm.add_row(
            name,
            *(f"[bold]{v}[/]" if j == labels.index(name) else (str(v) if v else "·") for j, v in enumerate(row)),
        )
    console.print(cm)
    floors = Table(title="confidence floor: share kept / accuracy of kept (rest escalates)")
    floors.add_column("floor")
    floors.add_column("kept", justify="right")
    floors.add_column("accuracy", justify="right")
    for floor, f in test["confidence_floors"].items():
        floors.add_row(floor, _pct(f["coverage"]), _pct(f["accuracy_kept"]))
    console.print(floors)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
