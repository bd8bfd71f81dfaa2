"""Set a strong/weak router's threshold from the prompts in telemetry records, not from a benchmark.

The threshold shipped with a score head comes from MMLU-val score quantiles; real
traffic scores differently (measured: see docs/routing-quality.md). Given records
written with ``telemetry.capture_text: true`` (SQLite, JSONL or PostgreSQL sink),
this scores every captured prompt with the artefact and returns the threshold that
sends the requested share of *those* prompts to the strong model, or the share that
fits a spend per 1,000 requests:

    share = (spend/1000 − c_weak) / (c_strong − c_weak),  clipped to [0, 1]

with ``c_strong``/``c_weak`` the expected USD per request of each side (given, or the
mean ``cost_usd`` of the records each model answered).

For a ``quality_cost`` (N-model) router, `lambda_for_spend` finds the λ whose expected
spend on the logged prompts fits a budget per 1,000 requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelyard.errors import ConfigError
from modelyard.telemetry.record import Record
from modelyard.telemetry.relabel import prompt_text

__all__ = [
    "LambdaCalibration",
    "LogCalibration",
    "calibrate_from_records",
    "lambda_for_spend",
    "logged_prompts",
    "mean_cost",
    "share_for_spend",
]


@dataclass(frozen=True)
class LogCalibration:
    threshold: float
    target_share: float
    achieved_share: float
    n_prompts: int
    n_records: int
    benchmark_threshold: float
    benchmark_share_on_logs: float

    def yaml(self, artefact: str) -> str:
        setting = f"artefact: {artefact}, threshold: {self.threshold:.6f}"
        return f"{{kind: threshold, {setting}, strong: <model>, weak: <model>}}"


def mean_cost(records: Sequence[Record], model: str) -> float:
    """Mean ``cost_usd`` of the successful records ``model`` answered; ConfigError when there are none."""
    costs = [r.cost_usd for r in records if r.model == model and r.status == "ok"]
    if not costs:
        raise ConfigError(f"no successful record was answered by {model!r}; give its cost per request instead")
    return float(np.mean(costs))


def share_for_spend(spend_per_1k: float, c_strong: float, c_weak: float) -> float:
    """Strong share whose expected spend per 1,000 requests is ``spend_per_1k`` (clipped to [0, 1])."""
    if c_strong <= c_weak:
        raise ConfigError(f"the strong side must cost more per request than the weak side ({c_strong} <= {c_weak})")
    return float(np.clip((spend_per_1k / 1000.0 - c_weak) / (c_strong - c_weak), 0.0, 1.0))


def logged_prompts(records: Sequence[Record], requested: str | None = None) -> tuple[list[str], int]:
    """(the user text of every record that captured one, how many records were considered)."""
    chosen = [r for r in records if requested is None or r.requested == requested or requested in r.route]
    texts = [t for t in (prompt_text(r) for r in chosen) if t]
    if not texts:
        where = f" for {requested!r}" if requested else ""
        raise ConfigError(
            f"none of the {len(chosen)} records{where} carries prompt text; turn on telemetry.capture_text "
            "and let traffic through first"
        )
    return texts, len(chosen)


def calibrate_from_records(
    records: Sequence[Record],
    score: object,
    *,
    strong_share: float,
    benchmark_threshold: float,
    requested: str | None = None,
) -> LogCalibration:
    """``score``: callable texts → strong-need scores (e.g. ``ThresholdScorer.score``).

    ``requested``: only records whose caller asked for this model or router name.
    """
    if not 0.0 <= strong_share <= 1.0:
        raise ConfigError(f"strong share must be in [0, 1], got {strong_share}")
    texts, n_records = logged_prompts(records, requested)
    scores = np.asarray(score(texts), dtype=np.float64)  # type: ignore[operator]
    threshold = float(np.quantile(scores, 1.0 - strong_share)) if strong_share < 1.0 else float(scores.min())
    if strong_share == 0.0:
        threshold = float(np.nextafter(scores.max(), np.inf))
    return LogCalibration(
        threshold=threshold,
        target_share=strong_share,
        achieved_share=float((scores >= threshold).mean()),
        n_prompts=len(texts),
        n_records=n_records,
        benchmark_threshold=benchmark_threshold,
        benchmark_share_on_logs=float((scores >= benchmark_threshold).mean()),
    )


@dataclass(frozen=True)
class LambdaCalibration:
    """The λ of a ``quality_cost`` router whose expected spend on the logged prompts fits the target."""

    lam: float
    spend_per_1k: float
    target_per_1k: float
    predicted_quality: float
    shares: dict[str, float]
    n_prompts: int


def lambda_for_spend(
    pred: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    cost: np.ndarray[tuple[int], np.dtype[np.float64]],
    models: Sequence[str],
    spend_per_1k: float,
) -> LambdaCalibration:
    """Smallest λ (richest allocation) whose expected spend per 1,000 of these prompts is ≤ ``spend_per_1k``.

    ``pred``: predicted quality ``(n, m)`` of the logged prompts; ``cost``: the router's USD per request
    ``(m,)``. Spend falls as λ grows, so the λ values where a choice changes are scanned in order. When
    even the cheapest choice for every prompt costs more, the largest λ is returned (and says so by its spend).
    """
    from modelyard.eval.multimodel import lambda_grid
    from modelyard.routing.quality_cost import Policy, choose

    if spend_per_1k < 0:
        raise ConfigError(f"spend per 1k requests must be >= 0, got {spend_per_1k}")
    costs = np.broadcast_to(cost, pred.shape)
    best: tuple[float, np.ndarray[tuple[int], np.dtype[np.int64]]] | None = None
    for lam in lambda_grid(pred, np.ascontiguousarray(costs)):
        pick = choose(pred, cost, Policy(lam=float(lam)))
        best = (float(lam), pick)
        if 1000.0 * float(cost[pick].mean()) <= spend_per_1k + 1e-12:
            break
    assert best is not None
    lam, pick = best
    rows = np.arange(len(pick))
    return LambdaCalibration(
        lam=lam,
        spend_per_1k=1000.0 * float(cost[pick].mean()),
        target_per_1k=spend_per_1k,
        predicted_quality=float(pred[rows, pick].mean()),
        shares={m: float((pick == j).mean()) for j, m in enumerate(models) if (pick == j).any()},
        n_prompts=len(pick),
    )
