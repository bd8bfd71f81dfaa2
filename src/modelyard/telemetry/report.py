"""``modelyard report``: tables and plots over stored records.

Tables give volume, cost, latency p50/p95, quality and escalation/fallback
rates by route, family and model, and the share of traffic served by cheap
tiers against the 80/20 target (80% of volume on cheaper models). Plots
(matplotlib, Agg) go to PNG files: cost over time by family, latency
distribution per model, cost vs quality per router.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from modelyard.config.telemetry import ReportSettings
from modelyard.errors import ConfigError
from modelyard.telemetry.record import Record
from modelyard.telemetry.stats import Group, cheap_models, group_by, observed_prices, quality_of, route_of

__all__ = ["Report", "build_report", "load_records", "parse_since", "write_plots"]

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
    """From a SQLite file, a JSONL file, or ``postgres:ENV_VAR`` (the DSN stays in the environment)."""
    if db.startswith("postgres:"):
        from modelyard.telemetry.sinks.postgres import PostgresSink

        return PostgresSink(db.removeprefix("postgres:")).query(since=since)
    path = Path(db).expanduser()
    if not path.is_file():
        raise ConfigError("no such records file", file=str(path))
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        from modelyard.telemetry.sinks.jsonl import read_jsonl

        return read_jsonl(path, since=since)
    from modelyard.telemetry.sinks.sqlite import SqliteSink

    return SqliteSink(path).query(since=since)


@dataclass
class Report:
    records: int
    first: float | None
    last: float | None
    cost_usd: float
    by_route: list[Group]
    by_family: list[Group]
    by_model: list[Group]
    cheap: list[str]
    cheap_share: float | None
    cheap_target: float

    @property
    def meets_target(self) -> bool | None:
        return None if self.cheap_share is None else self.cheap_share >= self.cheap_target


def build_report(records: list[Record], settings: ReportSettings | None = None) -> Report:
    settings = settings or ReportSettings()
    answered = [r for r in records if r.model]
    cheap = cheap_models(answered, observed_prices(answered), settings)
    share = sum(1 for r in answered if r.model in cheap) / len(answered) if answered else None
    return Report(
        records=len(records),
        first=min((r.time for r in records), default=None),
        last=max((r.time for r in records), default=None),
        cost_usd=sum(r.cost_usd for r in records),
        by_route=group_by(records, route_of),
        by_family=group_by(records, lambda r: r.family),
        by_model=group_by(records, lambda r: r.model),
        cheap=sorted(cheap),
        cheap_share=share,
        cheap_target=settings.cheap_target,
    )


# -- plots ---------------------------------------------------------------------------------


def write_plots(records: list[Record], out: Path) -> list[Path]:
    """Three PNGs into ``out``; returns their paths (empty when there is nothing to plot)."""
    if not records:
        return []
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = [_cost_over_time(records, out / "cost_over_time_by_family.png", plt)]
    written.append(_latency_per_model(records, out / "latency_by_model.png", plt))
    written.append(_cost_vs_quality(records, out / "cost_vs_quality_by_router.png", plt))
    plt.close("all")
    return written


def _cost_over_time(records: list[Record], path: Path, plt: object) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))  # type: ignore[attr-defined]
    families = sorted({r.family for r in records if r.family})  # refused requests have none
    for fam in families:
        rows = sorted((r for r in records if (r.family or "-") == fam), key=lambda r: r.time)
        times = [dt.datetime.fromtimestamp(r.time) for r in rows]
        total, ys = 0.0, []
        for r in rows:
            total += r.cost_usd
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


def _latency_per_model(records: list[Record], path: Path, plt: object) -> Path:
    groups = [g for g in group_by(records, lambda r: r.model) if g.key != "-"][:12]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(groups) + 1.8))  # type: ignore[attr-defined]
    ax.boxplot([g.latencies for g in groups], vert=False, showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(groups) + 1), [f"{g.key} (n={g.n})" for g in groups])
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title("Latency distribution per model")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _cost_vs_quality(records: list[Record], path: Path, plt: object) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))  # type: ignore[attr-defined]
    for g in group_by(records, lambda r: r.router):
        rows = [r for r in records if (r.router or "-") == g.key]
        scored = [(r.cost_usd, q) for r in rows if (q := quality_of(r)) is not None]
        mean_cost = g.cost / g.n
        if scored:
            quality = sum(q for _, q in scored) / len(scored)
            ax.scatter([mean_cost], [quality], s=30 + 4 * g.n**0.5 * 10, alpha=0.7)
            ax.annotate(f"{g.key}\n(n={g.n}, {len(scored)} scored)", (mean_cost, quality), fontsize=8)
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
