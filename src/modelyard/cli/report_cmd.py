"""``modelyard report``: what the traffic cost, how fast it was, and where it went."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from modelyard.cli.common import console, fail

if TYPE_CHECKING:
    from modelyard.telemetry.report import Report
    from modelyard.telemetry.view import Group

__all__ = ["print_report", "register"]


def _db_default() -> str:
    from modelyard.config.telemetry import default_db_path

    return str(default_db_path())


def report(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Records: a SQLite file, a .jsonl file, or postgres:ENV_VAR (DSN read from that variable). "
            "Default: the embedded SQLite path (~/.local/share/modelyard/records.db).",
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only records since: 30m, 24h, 7d or ISO date.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the PNG plots.")] = Path(
        "modelyard-report"
    ),
    plots: Annotated[bool, typer.Option(help="Write the PNG plots.")] = True,
    cheap_target: Annotated[float, typer.Option(min=0, max=1, help="Target share of cheap tiers.")] = 0.8,
) -> None:
    """Tables by route, family and model (volume, cost, latency p50/p95, quality, escalation rate),
    the cheap-tier share against the 80/20 target, and plots: cost over time by family, latency
    per model, cost vs quality per router. Read from the store's rollups (SQLite, PostgreSQL):
    seconds and bounded memory at millions of records; p50/p95 within one 25% histogram bucket.

    Cheap tiers: families slm and mlm, plus any model whose observed price per token is below
    the median of the models in the records.
    """
    from modelyard.config.telemetry import ReportSettings
    from modelyard.errors import ModelyardError
    from modelyard.telemetry.report import build_report, load_view, parse_since, write_plots

    source = db or _db_default()
    try:
        start = parse_since(since, now=time.time()) if since else None
        data = load_view(source, since=start)
    except ModelyardError as exc:
        fail(str(exc))
    result = build_report(data, ReportSettings(cheap_target=cheap_target))
    if not result.records:
        fail(f"no records in {source}" + (f" since {since}" if since else ""))
    print_report(result)
    if plots:
        for path in write_plots(result, out):
            console.print(f"[green]wrote[/] {path}", highlight=False)


def _table(title: str, groups: list[Group], total: int) -> Table:
    t = Table(title=title, title_justify="left", padding=(0, 1))
    for col in ("", "req", "share", "USD", "USD/req", "p50 ms", "p95 ms", "quality", "esc", "fb", "err"):
        t.add_column(col, justify="left" if not col else "right", no_wrap=True)
    for g in groups:
        q = g.mean_quality
        t.add_row(
            g.key,
            str(g.n),
            f"{100 * g.n / total:.0f}%",
            f"{g.cost:.3f}",
            f"{g.cost / g.n:.5f}",
            f"{g.p50:.0f}" if g.p50 is not None else "-",
            f"{g.p95:.0f}" if g.p95 is not None else "-",
            f"{q:.2f}/{g.quality_n}" if q is not None else "-",
            f"{100 * g.escalated / g.n:.0f}%",
            f"{100 * g.fell_back / g.n:.0f}%",
            str(g.errors),
        )
    t.caption = (
        "quality: mean/number of scored requests (feedback, else judge or council); "
        "esc/fb: escalated / fell back"
    )
    return t


def print_report(r: Report) -> None:
    console.width = max(console.width, 140)  # eleven numeric columns do not fit 80
    span = ""
    if r.first is not None and r.last is not None:
        fmt = "%Y-%m-%d %H:%M"
        first, last = (time.strftime(fmt, time.localtime(t)) for t in (r.first, r.last))
        span = f" from {first} to {last}"
    console.print(f"[bold]{r.records} requests[/]{span}, total cost ${r.cost_usd:.4f}", highlight=False)
    for title, groups in (("by route", r.by_route), ("by family", r.by_family), ("by model", r.by_model)):
        console.print(_table(title, groups, r.records))
    if r.cheap_share is None:
        console.print("cheap tiers: no answered requests")
        return
    verdict = "[green]meets[/]" if r.meets_target else "[red]below[/]"
    console.print(
        f"cheap tiers ({', '.join(r.cheap) or 'none'}): {100 * r.cheap_share:.1f}% of answered volume — "
        f"{verdict} the {100 * r.cheap_target:.0f}/{100 - 100 * r.cheap_target:.0f} target",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(report)
