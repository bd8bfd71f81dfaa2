"""``modelyard batch run | expand | report``: batch jobs on the OpenAI Batch API file format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from modelyard.cli.common import ConfigOption, console, err_console, fail, load

__all__ = ["register"]

batch_app = typer.Typer(
    help="Batch jobs: run an OpenAI-format JSONL file through the router (resumable, budgeted, local or Ray).",
    no_args_is_help=True,
)


class OnBudget(StrEnum):
    stop = "stop"
    downgrade = "downgrade"


@batch_app.command("run")
def run(
    input: Annotated[Path, typer.Argument(help="Input JSONL: custom_id, method, url, body per line.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL (OpenAI batch output lines).")],
    config: ConfigOption = None,
    errors: Annotated[Path | None, typer.Option(help="Error file. Default: OUT with .errors.jsonl.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="SQLite checkpoint. Default: OUT with .checkpoint.sqlite.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Items in flight at most (overall).")] = 32,
    model_concurrency: Annotated[
        list[str] | None, typer.Option("--model-concurrency", help="NAME=N: calls in flight per model or family.")
    ] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="USD cap for the whole run (all restarts).")] = None,
    on_budget: Annotated[
        OnBudget, typer.Option(help="When the budget is reached: stop, or downgrade.")
    ] = OnBudget.stop,
    downgrade_to: Annotated[
        str | None, typer.Option(help="The cheaper model or router for --on-budget downgrade.")
    ] = None,
    reserve_calls: Annotated[
        float,
        typer.Option(min=0.01, help="Hold per item = this × the worst-case call on the priciest reachable model."),
    ] = 4.0,
    item_reserve: Annotated[float | None, typer.Option(min=0, help="Hold this many USD per item instead.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run the failed items again.")] = False,
    ray: Annotated[str | None, typer.Option("--ray", help="Run on Ray: 'auto' or ray://HOST:PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Ray workers (one engine each).")] = 2,
    progress: Annotated[bool, typer.Option(help="Show the live progress display.")] = True,
) -> None:
    """Run (or resume) a batch: every item through the engine; output and error files in OpenAI's shape.

    Killed and started again with the same arguments, the run picks up where the
    checkpoint says: finished items are neither re-run nor charged again.
    """
    import asyncio

    from modelyard.batch import (
        BatchInputError,
        BatchPaths,
        CheckpointMismatchError,
        LocalBackend,
        RunOptions,
        run_batch,
    )
    from modelyard.batch.backends.base import BatchBackend
    from modelyard.batch.limits import parse_caps
    from modelyard.batch.progress import ProgressDisplay
    from modelyard.batch.summary import print_summary
    from modelyard.errors import ModelyardError

    cfg = load(config)
    if not input.is_file():
        fail(f"{input}: no such input file", code=2)
    try:
        caps = parse_caps(model_concurrency)
        options = RunOptions(budget_usd=budget, on_budget=on_budget.value, downgrade_to=downgrade_to,
                             retry_failed=retry_failed)
        backend: BatchBackend
        if ray is not None:
            from modelyard.batch.backends.ray import RayBackend

            backend = RayBackend(cfg, address=ray, workers=workers, concurrency=concurrency, caps=caps)
        else:
            backend = LocalBackend(cfg, concurrency=concurrency, caps=caps)
    except (ValueError, ModelyardError) as exc:
        fail(escape(str(exc)), code=2)
    paths = BatchPaths.beside(input, out, errors, checkpoint)
    display = ProgressDisplay(err_console, live=None if progress else False, every_s=5.0 if progress else 1e9)
    try:
        with display:
            result = asyncio.run(
                run_batch(cfg, paths, backend, options, reserve_calls=reserve_calls, item_reserve_usd=item_reserve,
                          on_progress=display)
            )
    except (BatchInputError, CheckpointMismatchError, ModelyardError) as exc:
        fail(escape(str(exc)), code=2)
    print_summary(console, result)
    if result.stats.stopped == "budget":
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")


@batch_app.command("report")
def report(
    checkpoint: Annotated[Path, typer.Argument(help="A run's checkpoint (OUT.checkpoint.sqlite).")],
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: spend vs counterfactual, latency histogram.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Items, cost by family and model against the all-on-the-top-model counterfactual, latency, rates."""
    import json

    from modelyard.batch import Checkpoint
    from modelyard.batch.report import batch_report, plot_report
    from modelyard.batch.summary import print_report

    if not checkpoint.is_file():
        fail(f"{checkpoint}: no such checkpoint", code=2)
    cp = Checkpoint(checkpoint)
    try:
        figures = batch_report(cp)
    finally:
        cp.close()
    if json_out:
        console.print_json(json.dumps(figures.as_dict()))
    else:
        print_report(console, figures)
    if plot is not None:
        plot_report(figures, plot)
        err_console.print(f"plot: {plot}", highlight=False)


@batch_app.command("expand")
def expand(
    template: Annotated[Path, typer.Argument(help="Template YAML: variables (lists) and a request template.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Expand a template over the product of its variable lists into a batch input file.

    E.g. problems × languages × flavours → one chat request per combination.
    """
    from modelyard.batch.expand import ExpandError, expand_file

    try:
        count = expand_file(template, out)
    except ExpandError as exc:
        fail(escape(str(exc)), code=2)
    if out is not None:
        err_console.print(f"{count:,} requests → {out}", highlight=False)
