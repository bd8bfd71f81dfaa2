"""What a batch run did and what it cost, from its checkpoint alone.

`BatchReport` holds the figures; `batch_report` computes them; `plot_report`
draws them. The counterfactual is the article's point: what the same items
would have cost had every one been sent to the most expensive model the run
used — each item priced at that model for the tokens of the answer it kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.batch.checkpoint import Checkpoint, from_nano

__all__ = ["BatchReport", "batch_report", "model_prices", "plot_report"]


def model_prices(config: Any) -> str:
    """The config's models as JSON {name: {family, input, output, image}}: stored with the checkpoint."""
    return json.dumps({
        name: {"family": spec.family.value, **spec.price.model_dump()} for name, spec in config.models.items()
    })


@dataclass
class BatchReport:
    total: int
    done: int
    failed: int
    skipped: int
    pending: int
    spent_usd: float
    lost_usd: float
    resent_after_crash: int
    cost_by_model: dict[str, float] = field(default_factory=dict)
    cost_by_family: dict[str, float] = field(default_factory=dict)
    answers_by_model: dict[str, int] = field(default_factory=dict)
    earlier_attempts_usd: float = 0.0
    top_model: str | None = None
    counterfactual_usd: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    escalation_rate: float = 0.0
    fallback_rate: float = 0.0
    failure_rate: float = 0.0
    downgraded: int = 0
    held_back: int = 0  # finished items of which the hold refused at least one call
    failures_by_code: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def saving(self) -> float | None:
        """1 − spent / counterfactual (0.8 = the run cost a fifth of all-on-the-top-model)."""
        if not self.counterfactual_usd:
            return None
        return 1.0 - self.spent_usd / self.counterfactual_usd

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latencies"}
        out["saving"] = self.saving
        return out


def batch_report(checkpoint: Checkpoint) -> BatchReport:
    """Figures over every item of the checkpoint (all runs of it so far)."""
    t = checkpoint.totals()
    prices: dict[str, dict[str, Any]] = json.loads(checkpoint.meta("models") or "{}")
    rows = checkpoint.rows(
        "state, cost_nano, model, family, latency_ms, escalations, fallbacks, downgraded, held_back, spend, "
        "answer_in, answer_out, error_code",
        "state IN ('done', 'failed', 'skipped')",
    )
    report = BatchReport(t.total, t.done, t.failed, t.skipped, t.pending + t.running, t.spent_usd, t.lost_usd,
                         t.interrupted)
    finished = [r for r in rows if r["state"] in ("done", "failed")]
    in_spend = 0.0
    for r in finished:
        spend: dict[str, float] = json.loads(r["spend"] or "{}")
        for model, usd in spend.items():
            report.cost_by_model[model] = report.cost_by_model.get(model, 0.0) + usd
            family = prices.get(model, {}).get("family", "unknown")
            report.cost_by_family[family] = report.cost_by_family.get(family, 0.0) + usd
            in_spend += usd
        if r["state"] == "done" and r["model"]:
            report.answers_by_model[r["model"]] = report.answers_by_model.get(r["model"], 0) + 1
        report.downgraded += int(r["downgraded"] or 0)
        report.held_back += 1 if (r["held_back"] or 0) > 0 else 0
    for r in rows:
        if r["state"] != "done":
            code = r["error_code"] or "failed"
            report.failures_by_code[code] = report.failures_by_code.get(code, 0) + 1
    report.earlier_attempts_usd = max(0.0, sum(from_nano(r["cost_nano"]) for r in finished) - in_spend)
    used = [m for m in report.cost_by_model if m in prices]
    if used:
        reference = {m: prices[m]["input"] + prices[m]["output"] for m in used}
        top = max(used, key=lambda m: reference[m])
        report.top_model = top
        p = prices[top]
        report.counterfactual_usd = sum(
            (r["answer_in"] or 0) / 1000.0 * p["input"] + (r["answer_out"] or 0) / 1000.0 * p["output"]
            for r in rows if r["state"] == "done"
        )
    lat = [float(r["latency_ms"]) for r in rows if r["state"] == "done" and r["latency_ms"] is not None]
    report.latencies = lat
    if lat:
        arr = np.asarray(lat)
        report.latency_ms = {f"p{q}": float(np.percentile(arr, q)) for q in (50, 90, 99)}
        report.latency_ms["max"] = float(arr.max())
    if finished:
        n = len(finished)
        report.escalation_rate = sum(1 for r in finished if (r["escalations"] or 0) > 0) / n
        report.fallback_rate = sum(1 for r in finished if (r["fallbacks"] or 0) > 0) / n
        report.failure_rate = sum(1 for r in finished if r["state"] == "failed") / n
    return report


def plot_report(report: BatchReport, path: Path) -> Path:
    """Two panels: spend by model against the all-on-the-top-model counterfactual; latency histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    models = sorted(report.cost_by_model, key=lambda m: -report.cost_by_model[m])
    labels = [*models, "total"]
    values = [report.cost_by_model[m] for m in models] + [report.spent_usd]
    ax1.bar(labels, values, color=["#4c72b0"] * len(models) + ["#222222"])
    if report.counterfactual_usd is not None:
        ax1.bar([f"all on\n{report.top_model}"], [report.counterfactual_usd], color="#c44e52")
    ax1.set_ylabel("USD")
    saving = f" — {report.saving:.0%} saved" if report.saving is not None else ""
    ax1.set_title(f"spend by model vs the counterfactual{saving}")
    ax1.tick_params(axis="x", labelrotation=30)
    if report.latencies:
        ax2.hist(report.latencies, bins=40, color="#55a868")
        for q, v in report.latency_ms.items():
            if q != "max":
                ax2.axvline(v, color="#333333", linestyle="--", linewidth=0.8)
                ax2.text(v, ax2.get_ylim()[1] * 0.9, q, rotation=90, fontsize=8)
    ax2.set_xlabel("item latency (ms)")
    ax2.set_title(f"{report.done:,} items done, {report.failed:,} failed")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
