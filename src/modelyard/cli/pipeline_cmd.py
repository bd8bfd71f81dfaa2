"""``modelyard run-pipeline``: run a configured pipeline once and show every stage."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, fail, key_values, load

__all__ = ["register"]


def run_pipeline(
    name: Annotated[str, typer.Argument(help="Pipeline name (with or without 'pipeline:').", show_default=False)],
    text: Annotated[str, typer.Argument(help="The user message.", show_default=False)],
    config: ConfigOption = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="A pipeline input KEY=VALUE (repeatable).")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (tool allow-lists, budgets).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and the stage summary as JSON.")] = False,
    explain: Annotated[bool, typer.Option("--explain", "-e", help="Print the stage graph first.")] = False,
) -> None:
    """Run pipeline NAME on TEXT: every stage's model, calls, cost and latency, then the answer.

    Example:

      modelyard run-pipeline support-ticket "I was charged twice for order 1234" -c examples/pipelines.yaml
    """
    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.pipeline import PIPELINE_PREFIX, PipelineRunner, draw
    from modelyard.types import ChatRequest

    cfg = load(config)
    bare = name.removeprefix(PIPELINE_PREFIX)
    if bare not in cfg.pipelines:
        fail(f"no pipeline {bare!r} in {cfg.source}; defined: {', '.join(cfg.pipelines) or 'none'}")
    values = key_values(inputs, "--input")
    if explain:
        console.print(draw(bare, cfg.pipelines[bare]), markup=False, highlight=False, soft_wrap=True)
    request = ChatRequest.from_text(
        text, model=f"{PIPELINE_PREFIX}{bare}", hints={"tenant": tenant}, pipeline_inputs=values
    )

    async def run() -> None:
        async with Engine(cfg) as engine:
            runner = PipelineRunner.for_engine(engine)
            try:
                done = await runner.chat(request)
            finally:
                await runner.aclose()
            summary = done.trace.details.get("pipeline", {})
            if as_json:
                out = {"answer": done.text, "model": done.model, "cost_usd": done.cost_usd, "pipeline": summary}
                console.print_json(json.dumps(out, default=str))
                return
            table = Table(title=f"pipeline:{bare}")
            for column in ("stage", "kind", "models", "calls", "tries", "cost $", "start ms", "ms"):
                table.add_column(column)
            for stage, row in summary.get("stages", {}).items():
                sim = " (SIMULATED)" if row.get("simulated") else ""
                table.add_row(
                    stage,
                    row["stage_kind"],
                    ", ".join(row["models"]) + sim,
                    str(row["calls"]),
                    str(row.get("tries", "")),
                    f"{row['cost_usd']:.6f}",
                    str(row.get("started_ms", "")),
                    str(row.get("latency_ms", "")),
                )
            console.print(table)
            console.print(done.text or "(no text)", markup=False, highlight=False)
            console.print(f"total ${done.cost_usd:.6f} · {done.trace.latency_ms or 0:.0f} ms", highlight=False)

    try:
        asyncio.run(run())
    except ModelyardError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    app.command("run-pipeline")(run_pipeline)
