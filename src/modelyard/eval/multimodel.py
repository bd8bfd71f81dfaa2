"""N-model routing: pick ``argmax_m  predicted_quality[m] - lambda * cost[m]`` per prompt.

Sweeping ``lambda`` from 0 (best predicted quality, any price) upwards traces
the router's cost-quality curve; AIQ summarises it. With perfect predictions
this Lagrangian sweep reaches every vertex of the optimal (randomised-budget)
frontier, which is what :func:`synthetic_dataset` tests against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.metrics import FloatArray, aiq, upper_hull

__all__ = ["MultiCurve", "choose", "evaluate_multimodel", "lambda_grid", "synthetic_dataset"]

IntArray = npt.NDArray[np.int64]


def choose(pred: FloatArray, costs: FloatArray, lam: float) -> IntArray:
    """Model index per prompt; exact ties go to the cheaper model, then the lower index."""
    utility = pred - lam * costs
    best = utility.max(axis=1, keepdims=True)
    tied = np.isclose(utility, best, rtol=0.0, atol=1e-12)
    masked_cost = np.where(tied, costs, np.inf)
    return np.asarray(np.argmin(masked_cost, axis=1), dtype=np.int64)


def lambda_grid(pred: FloatArray, costs: FloatArray, max_points: int = 512) -> FloatArray:
    """Every lambda where some prompt's choice can change (or ``max_points`` quantiles of them).

    Choices only change where two models' utility lines cross,
    ``lambda = (p_a - p_b) / (c_a - c_b)``; probing between consecutive
    crossings visits every distinct allocation.
    """
    m = pred.shape[1]
    cross: list[FloatArray] = []
    for a in range(m):
        for b in range(a + 1, m):
            dc = costs[:, a] - costs[:, b]
            ok = np.abs(dc) > 1e-15
            lam = (pred[ok, a] - pred[ok, b]) / dc[ok]
            cross.append(lam[lam > 0])
    points = np.unique(np.concatenate(cross)) if cross else np.zeros(0)
    if points.size > max_points:
        points = np.unique(np.quantile(points, np.linspace(0, 1, max_points)))
    if points.size == 0:
        return np.array([0.0])
    mids = (points[:-1] + points[1:]) / 2
    return np.unique(np.r_[0.0, points * 0.999999, mids, points * 1.000001, points[-1] * 2 + 1.0])


@dataclass(frozen=True)
class MultiCurve:
    """Points of a lambda sweep and the summary numbers."""

    lambdas: FloatArray
    cost: FloatArray
    quality: FloatArray
    aiq: float
    hull_cost: FloatArray
    hull_quality: FloatArray


def evaluate_multimodel(
    dataset: OutcomeDataset, pred: FloatArray, *, cost_range: tuple[float, float] | None = None
) -> MultiCurve:
    """Sweep lambda for predictions ``pred`` (shape ``(n, m)``) on ``dataset``.

    AIQ's cost range defaults to [cheapest, dearest] single-model mean cost;
    AIQ is on quality normalised to the dataset's score range (``quality``
    and ``hull_quality`` stay in score units).
    """
    if pred.shape != dataset.scores.shape:
        raise ValueError(f"predictions {pred.shape} do not match dataset {dataset.scores.shape}")
    lams = lambda_grid(pred, dataset.costs)
    rows = np.arange(len(dataset))
    cost, quality = [], []
    for lam in lams:
        pick = choose(pred, dataset.costs, float(lam))
        cost.append(float(dataset.costs[rows, pick].mean()))
        quality.append(float(dataset.scores[rows, pick].mean()))
    c, q = np.array(cost), np.array(quality)
    per_model = dataset.costs.mean(axis=0)
    lo, hi = cost_range or (float(per_model.min()), float(per_model.max()))
    hc, hq = upper_hull(c, q)
    return MultiCurve(lams, c, q, aiq(c, dataset.scale.normalise(q), lo, hi), hc, hq)


def synthetic_dataset(n: int = 300, *, seed: int = 0) -> OutcomeDataset:
    """Three models (cost 1, 3, 10) and three prompt types with a hand-computable optimum.

    Type ``easy``: every model is right. ``medium``: the cheap model is wrong.
    ``hard``: only the dear model is right. With perfect predictions the
    optimal frontier has vertices all-cheap -> medium upgraded to the mid model
    (1 quality point per 2 cost) -> hard upgraded to the dear model (1 per 9).
    """
    rng = np.random.default_rng(seed)
    kinds = rng.choice(np.array(["easy", "medium", "hard"]), size=n, p=[0.5, 0.3, 0.2])
    table = {"easy": (1.0, 1.0, 1.0), "medium": (0.0, 1.0, 1.0), "hard": (0.0, 0.0, 1.0)}
    scores = np.array([table[str(k)] for k in kinds])
    costs = np.tile(np.array([1.0, 3.0, 10.0]), (n, 1))
    return OutcomeDataset(
        name="synthetic-3",
        ids=tuple(f"syn-{i}" for i in range(n)),
        prompts=tuple(f"{k} prompt {i}" for i, k in enumerate(kinds)),
        models=("cheap", "mid", "dear"),
        scores=scores,
        costs=costs,
        cost_unit="units",
        groups=tuple(str(k) for k in kinds),
    )
