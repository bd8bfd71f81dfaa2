"""``modelyard report``: tables and plots over stored records, read as aggregates.

Tables give volume, cost, latency p50/p95, quality and escalation/fallback
rates by route, family and model, and the share of traffic served by cheap
tiers against the 80/20 target (80% of volume on cheaper models). Plots
(matplotlib, Agg) go to PNG files: cost over time by family, latency
distribution per model, cost vs quality per router. All of it comes from
rollups (`load_view`), so memory and time grow with the aggregates, not with
the number of records.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.config.telemetry import ReportSettings
from modelyard.errors import ConfigError
from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.rollup import RollupBatch, facts_of
from modelyard.telemetry.view import Group, Reads, Window

if TYPE_CHECKING:
    from modelyard.telemetry.sinks.postgres import PostgresSink
    from modelyard.telemetry.sinks.sqlite import SqliteSink

__all__ = ["Loaded", "Report", "build_report", "load_records", "load_view", "parse_since", "write_plots"]

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, *, now: float) -> float:
    """``30m``, ``24h``, ``7d``, ``2w`` (ago) or an ISO date/time; returns epoch seconds."""
    m = _SPAN.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r}: use 30m, 24h, 7d or an ISO date") from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.timestamp()


def load_records(db: str, *, since: float | None = None) -> list[Record]:
    """From a SQLite file, a JSONL file, or ``postgres:ENV_VAR`` (the DSN stays in the environment).

    Every record in memory: for re-training, not for reports (see `load_view`)."""
    if db.startswith("postgres:"):
        from modelyard.telemetry.sinks.postgres import PostgresSink

        return PostgresSink(db.removeprefix("postgres:")).query(since=since)
    path = _records_file(db)
    if path.suffix in _JSONL:
        from modelyard.telemetry.sinks.jsonl import read_jsonl

        return read_jsonl(path, since=since)
    from modelyard.telemetry.sinks.sqlite import SqliteSink

    return SqliteSink(path).query(since=since)


_JSONL = (".jsonl", ".json", ".ndjson")


def _records_file(db: str) -> Path:
    path = Path(db).expanduser()
    if not path.is_file():
        raise ConfigError("no such records file", file=str(path))
    return path


@dataclass
class Loaded:
    """A window of traffic as aggregates (`Reads`) with its first and last record time."""

    reads: Reads
    first: float | None
    last: float | None


def load_view(db: str, *, since: float | None = None) -> Loaded:
    """Aggregates of the records since ``since`` (all when None), in memory bounded by aggregates.

    SQLite and PostgreSQL answer from their rollup tables (a database written
    before rollups existed gets them on first open: migration 3). A JSONL file
    is streamed twice (feedback, then records) into rollups in memory.
    """
    window = Window(since)
    if db.startswith("postgres:"):
        from modelyard.telemetry.sinks.postgres import PostgresSink

        sink: SqliteSink | PostgresSink = PostgresSink(db.removeprefix("postgres:"))
    else:
        path = _records_file(db)
        if path.suffix in _JSONL:
            return _stream_jsonl(path, window)
        from modelyard.telemetry.sinks.sqlite import SqliteSink

        sink = SqliteSink(path)
    sink.open()  # applies pending migrations
    sink.close()
    view = sink.read_view(window, family_cost=True, span=True)
    return Loaded(view.reads, view.first, view.last)


def _stream_jsonl(path: Path, window: Window) -> Loaded:
    from modelyard.telemetry.sinks.jsonl import iter_jsonl

    feedback: dict[str, list[Feedback]] = {}
    for item in iter_jsonl(path):
        if isinstance(item, Feedback):
            feedback.setdefault(item.request_id, []).append(item)
    batch = RollupBatch(keep=window.covers)
    head = window.head
    first = last = None
    seen: set[str] = set()
    for item in iter_jsonl(path):
        if isinstance(item, Feedback) or (head is not None and item.time < head) or item.request_id in seen:
            continue
        seen.add(item.request_id)  # a record written twice counts once (as when read back)
        item.feedback = feedback.get(item.request_id, [])
        batch.add(facts_of(item))
        first = item.time if first is None else min(first, item.time)
        last = item.time if last is None else max(last, item.time)
    return Loaded(Reads.from_batch(batch, window), first, last)


@dataclass
class Report:
    records: int
    first: float | None
    last: float | None
    cost_usd: float
    by_route: list[Group]
    by_family: list[Group]
    by_model: list[Group]
    by_router: list[Group]
    cheap: list[str]
    cheap_share: float | None
    cheap_target: float
    reads: Reads

    @property
    def meets_target(self) -> bool | None:
        return None if self.cheap_share is None else self.cheap_share >= self.cheap_target


def build_report(data: Loaded, settings: ReportSettings | None = None) -> Report:
    settings = settings or ReportSettings()
    reads = data.reads
    total = reads.total()
    cheap, share = reads.cheap(settings)
    return Report(
        records=total.n,
        first=data.first,
        last=data.last,
        cost_usd=total.cost_usd,
        by_route=reads.by_route(),
        by_family=reads.by_family(),
        by_model=reads.by_model(),
        by_router=reads.by_router(),
        cheap=sorted(cheap),
        cheap_share=share,
        cheap_target=settings.cheap_target,
        reads=reads,
    )


# -- plots ---------------------------------------------------------------------------------


def write_plots(report: Report, out: Path) -> list[Path]:
    """Three PNGs into ``out``; returns their paths (empty when there is nothing to plot)."""
    if not report.records:
        return []
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = [_cost_over_time(report.reads, out / "cost_over_time_by_family.png", plt)]
    written.append(_latency_per_model(report.by_model, out / "latency_by_model.png", plt))
    written.append(_cost_vs_quality(report.by_router, out / "cost_vs_quality_by_router.png", plt))
    plt.close("all")
    return written


def _cost_over_time(reads: Reads, path: Path, plt: object) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))  # type: ignore[attr-defined]
    by_family: dict[str, dict[int, float]] = {}
    for (start, span, family), cost in reads.family_cost.items():
        if family:  # refused requests have none
            at = by_family.setdefault(family, {})
            at[start + span] = at.get(start + span, 0.0) + cost  # spent by the end of the span
    for fam in sorted(by_family):
        points = sorted(by_family[fam].items())
        times = [dt.datetime.fromtimestamp(t) for t, _ in points]
        total, ys = 0.0, []
        for _, cost in points:
            total += cost
            ys.append(total)
        ax.step(times, ys, where="post", label=fam)
    ax.set_title("Cumulative cost by family")
    ax.set_ylabel("USD")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _latency_per_model(groups: list[Group], path: Path, plt: object) -> Path:
    """Boxes from each model's latency histogram: median, quartiles, whiskers at p5 and p95."""
    rows = [g for g in groups if g.key != "-"][:12]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.8))  # type: ignore[attr-defined]
    stats: list[dict[str, object]] = [
        {
            "label": f"{g.key} (n={g.n})",
            "med": g.agg.percentile(50),
            "q1": g.agg.percentile(25),
            "q3": g.agg.percentile(75),
            "whislo": g.agg.percentile(5),
            "whishi": g.agg.percentile(95),
            "fliers": [],
        }
        for g in rows
    ]
    if stats:
        import matplotlib  # horizontal boxes: ``orientation`` from 3.10, ``vert`` deprecated from 3.11

        version = tuple(int(part) for part in matplotlib.__version__.split(".")[:2])
        horizontal: dict[str, object] = {"orientation": "horizontal"} if version >= (3, 10) else {"vert": False}
        ax.bxp(stats, showfliers=False, **horizontal)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale; box: quartiles, whiskers: p5–p95)")
    ax.set_title("Latency distribution per model")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _cost_vs_quality(groups: list[Group], path: Path, plt: object) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))  # type: ignore[attr-defined]
    for g in groups:
        mean_cost = g.cost / g.n
        quality = g.mean_quality
        if quality is not None:
            ax.scatter([mean_cost], [quality], s=30 + 4 * g.n**0.5 * 10, alpha=0.7)
            ax.annotate(f"{g.key}\n(n={g.n}, {g.quality_n} scored)", (mean_cost, quality), fontsize=8)
        else:
            ax.scatter([mean_cost], [0.0], marker="x", color="grey")
            ax.annotate(f"{g.key} (no quality signal)", (mean_cost, 0.0), fontsize=8, color="grey")
    ax.set_xscale("symlog", linthresh=1e-5)
    ax.set_xlabel("mean cost per request (USD)")
    ax.set_ylabel("mean quality (feedback, else judge / council)")
    ax.set_ylim(-0.05, 1.1)
    ax.set_title("Cost vs quality per router")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
