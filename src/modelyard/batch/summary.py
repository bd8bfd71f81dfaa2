"""The end-of-run summary and ``modelyard batch report`` tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from modelyard.batch.job import BatchResult
from modelyard.batch.progress import format_duration
from modelyard.batch.report import BatchReport

__all__ = ["print_report", "print_summary"]


def print_summary(console: Console, result: BatchResult) -> None:
    s, p = result.stats, result.paths
    console.print(
        f"[bold]batch[/]: {s.done:,} done, {s.failed:,} failed, {s.skipped:,} skipped this run "
        f"in {format_duration(s.elapsed_s)} ({s.rate:,.1f} items/s, {s.backend})", highlight=False, soft_wrap=True)
    if s.resent_after_crash:
        console.print(
            f"resumed: {s.resent_after_crash:,} item(s) were in flight when the last run was killed and were "
            f"sent again (their first attempt may have cost up to ${s.lost_usd:.6f}, counted against the budget)",
            highlight=False, soft_wrap=True)
    if s.stopped == "budget":
        console.print(f"[yellow]stopped: the run budget ${s.budget_usd} is reached[/]", highlight=False, soft_wrap=True)
    console.print(f"output: {p.output} ({result.output_lines:,} lines); errors: {p.errors} "
                  f"({result.error_lines:,} lines); checkpoint: {p.checkpoint}", highlight=False, soft_wrap=True)


def print_report(console: Console, r: BatchReport) -> None:
    console.print(
        f"[bold]items[/]: {r.total:,} total — {r.done:,} done, {r.failed:,} failed, {r.skipped:,} skipped, "
        f"{r.pending:,} not run", highlight=False, soft_wrap=True)
    table = Table(title="cost by model", show_lines=False)
    table.add_column("model")
    table.add_column("answers", justify="right")
    table.add_column("USD", justify="right")
    table.add_column("share", justify="right")
    total = r.spent_usd or 1.0
    for model, usd in sorted(r.cost_by_model.items(), key=lambda kv: -kv[1]):
        table.add_row(model, f"{r.answers_by_model.get(model, 0):,}", f"{usd:.6f}", f"{usd / total:.1%}")
    if r.earlier_attempts_usd:
        table.add_row("(earlier attempts of retried items)", "", f"{r.earlier_attempts_usd:.6f}", "")
    table.add_row("[bold]total[/]", f"{r.done:,}", f"[bold]{r.spent_usd:.6f}[/]", "")
    console.print(table)
    fam = Table(title="cost by family")
    fam.add_column("family")
    fam.add_column("USD", justify="right")
    for family, usd in sorted(r.cost_by_family.items(), key=lambda kv: -kv[1]):
        fam.add_row(family, f"{usd:.6f}")
    console.print(fam)
    if r.counterfactual_usd is not None:
        console.print(
            f"counterfactual — every item on [bold]{r.top_model}[/]: ${r.counterfactual_usd:.6f}; "
            f"this run: ${r.spent_usd:.6f} ([bold]{abs(r.saving or 0):.1%}[/] "
            f"{'less' if (r.saving or 0) >= 0 else 'more'})", highlight=False, soft_wrap=True)
    if r.latency_ms:
        lat = ", ".join(f"{k} {v:,.1f} ms" for k, v in r.latency_ms.items())
        console.print(f"latency: {lat}", highlight=False, soft_wrap=True)
    console.print(
        f"rates: escalation {r.escalation_rate:.1%}, fallback {r.fallback_rate:.1%}, failure {r.failure_rate:.1%}; "
        f"downgraded {r.downgraded:,}", highlight=False, soft_wrap=True)
    if r.held_back:
        console.print(f"[yellow]{r.held_back:,} item(s) had a call refused by their hold[/] (a cascade that could not "
                      "escalate, a council cut short), so their answers may be below the route's bar: raise "
                      "--reserve-calls or --item-reserve", highlight=False, soft_wrap=True)
    if r.failures_by_code:
        console.print("not done, by reason: " + ", ".join(f"{k} {v:,}" for k, v in r.failures_by_code.items()),
                      highlight=False, soft_wrap=True)
    if r.resent_after_crash:
        console.print(f"re-sent after crashes: {r.resent_after_crash:,} item attempt(s); their unrecorded spend is "
                      f"at most ${r.lost_usd:.6f} (counted against the budget)", highlight=False, soft_wrap=True)
