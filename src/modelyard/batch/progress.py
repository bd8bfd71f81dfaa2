"""The live display of a batch run: done, failed, rate, ETA, spend so far and projected.

On a terminal it is a `rich` panel redrawn a few times a second; elsewhere
(logs, CI) one plain line every ``every_s`` seconds.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from modelyard.batch.runner import RunStats

__all__ = ["ProgressDisplay", "format_duration", "progress_line"]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _usd(value: float) -> str:
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def progress_line(s: RunStats) -> str:
    """One line: the same facts as the panel."""
    budget = f" of {_usd(s.budget_usd)}" if s.budget_usd is not None else ""
    return (
        f"{s.done_before + s.done:,}/{s.total:,} done, {s.failed:,} failed, {s.in_flight} in flight, "
        f"{s.rate:,.1f} items/s, ETA {format_duration(s.eta_s)}, spent {_usd(s.spent_usd)}{budget}, "
        f"projected {_usd(s.projected_usd)}"
    )


def _table(s: RunStats) -> Table:
    table = Table(title=f"modelyard batch — {s.backend}", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    finished = s.done_before + s.done
    pct = 100.0 * finished / s.total if s.total else 100.0
    table.add_row("done", f"{finished:,} / {s.total:,}  ({pct:.1f}%)")
    this_run = f"  ({s.failed:,} this run)" if s.failed_before else ""
    table.add_row("failed", f"{s.failed_before + s.failed:,}{this_run}")
    table.add_row("in flight", f"{s.in_flight:,}")
    table.add_row("rate", f"{s.rate:,.1f} items/s")
    table.add_row("elapsed / ETA", f"{format_duration(s.elapsed_s)} / {format_duration(s.eta_s)}")
    budget = f" of {_usd(s.budget_usd)}" if s.budget_usd is not None else ""
    table.add_row("spent", f"{_usd(s.spent_usd)}{budget}")
    table.add_row("projected", _usd(s.projected_usd))
    if s.downgraded:
        table.add_row("downgraded", f"{s.downgraded:,}")
    if s.resent_after_crash:
        table.add_row("re-sent after a crash", f"{s.resent_after_crash:,} (≤ {_usd(s.lost_usd)} unrecorded)")
    if s.stopped:
        table.add_row("stopped", s.stopped)
    return table


class ProgressDisplay:
    """A callable for `BatchRunner(on_progress=…)`; use as a context manager around the run."""

    def __init__(self, console: Console, *, live: bool | None = None, every_s: float = 5.0) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.every_s = every_s
        self._last = 0.0
        self._live: Live | None = None
        self._stats: RunStats | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            if self._stats is not None:
                self._live.update(_table(self._stats))
            self._live.__exit__(et, e, tb)
        elif self._stats is not None:
            self.console.print(progress_line(self._stats), highlight=False, soft_wrap=True)

    def __call__(self, stats: RunStats) -> None:
        self._stats = stats
        now = time.monotonic()
        if self._live is not None:
            if now - self._last >= 0.25:
                self._last = now
                self._live.update(_table(stats))
        elif now - self._last >= self.every_s:
            self._last = now
            self.console.print(progress_line(stats), highlight=False, soft_wrap=True)
