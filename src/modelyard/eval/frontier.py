"""N-model evaluation: the cost–quality frontier of routers that pick among many models.

Input: an `OutcomeDataset` with ``m`` models (each prompt's score and cost for each)
and, per router, predicted qualities ``(n, m)`` plus the per-model costs the router
*decides* with (``(m,)``: it cannot know a call's cost before making it). Sweeping
the trade-off λ (`modelyard.routing.quality_cost.choose`) gives (cost, quality)
points; the realised cost and quality use the dataset's per-prompt numbers.

Reported for each router and baseline (all on the rows given, i.e. a test split):

* ``aiq``: RouterBench's AIQ over [cheapest, dearest single model's mean cost]
  (`modelyard.eval.metrics.aiq`, quality normalised to the score range);
* ``cost_at_best``: the least mean cost per prompt at which the router's hull
  reaches the best single model's quality (NaN: never), and ``cost_saving`` =
  1 − that / the best model's cost;
* ``quality_at_best_cost``: the hull's quality at the best single model's cost;
* ``max_quality``: the hull's highest quality;
* ``aiq_over_random``: AIQ minus the random baseline's, paired on each bootstrap
  resample (its interval excluding 0 is the test of "better than random").

Baselines: every single model (a point); ``oracle`` (true scores, cheapest right
model: the λ sweep on the outcomes themselves); ``random`` — RouterBench's
non-predictive "zero router": choosing a model at random in fixed proportions
reaches exactly the convex hull of the single models' points. 95% intervals:
bootstrap over prompts (the router's choice per prompt and λ is fixed; only which
prompts are counted changes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.metrics import aiq, upper_hull
from modelyard.eval.multimodel import lambda_grid
from modelyard.routing.quality_cost import Policy, choose

__all__ = ["FrontierReport", "FrontierResult", "evaluate_frontier", "hull_cost_at", "hull_quality_at", "sweep_picks"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
METRICS = ("aiq", "aiq_over_random", "cost_at_best", "cost_saving", "quality_at_best_cost", "max_quality")


def sweep_picks(pred: FloatArray, decision_cost: FloatArray, max_points: int = 400) -> IntArray:
    """Model index per (λ, prompt), shape ``(L, n)``, over every λ where a choice changes."""
    c = np.broadcast_to(np.asarray(decision_cost, dtype=np.float64), pred.shape)
    lams = lambda_grid(pred, np.ascontiguousarray(c), max_points=max_points)
    return np.stack([choose(pred, c, Policy(lam=float(lam))) for lam in lams])


def hull_quality_at(hc: FloatArray, hq: FloatArray, cost: float) -> float:
    """Best quality the hull reaches with mean cost ``cost`` (NaN below its cheapest point)."""
    if cost < hc[0] - 1e-15:
        return math.nan
    return float(np.interp(cost, hc, hq))


def hull_cost_at(hc: FloatArray, hq: FloatArray, quality: float) -> float:
    """Least mean cost at which the hull reaches ``quality`` (NaN: never)."""
    if hq[-1] < quality - 1e-12:
        return math.nan
    j = int(np.flatnonzero(hq >= quality - 1e-12)[0])
    if j == 0:
        return float(hc[0])
    frac = (quality - hq[j - 1]) / (hq[j] - hq[j - 1])
    return float(hc[j - 1] + frac * (hc[j] - hc[j - 1]))


@dataclass
class FrontierResult:
    """One router or baseline: its points, hull, metrics and 95% bootstrap intervals."""

    name: str
    kind: str  # router | oracle | random | model
    cost: FloatArray
    quality: FloatArray
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)

    def hull(self) -> tuple[FloatArray, FloatArray]:
        return upper_hull(self.cost, self.quality)

    def to_json(self) -> dict[str, Any]:
        hc, hq = self.hull()
        return {
            "name": self.name,
            "kind": self.kind,
            "metrics": self.metrics,
            "ci95": {k: list(v) for k, v in self.ci.items()},
            "hull": {"cost": hc.tolist(), "quality": hq.tolist()},
            "points": len(self.cost),
        }


@dataclass
class FrontierReport:
    dataset: str
    n_prompts: int
    models: tuple[str, ...]
    cost_unit: str
    best_single: str
    cheapest: str
    cost_range: tuple[float, float]
    results: list[FrontierResult]
    settings: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> FrontierResult:
        return next(r for r in self.results if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "n_prompts": self.n_prompts,
            "models": list(self.models),
            "cost_unit": self.cost_unit,
            "best_single": self.best_single,
            "cheapest": self.cheapest,
            "aiq_cost_range": list(self.cost_range),
            "settings": self.settings,
            "results": [r.to_json() for r in self.results],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, default=float) + "\n", encoding="utf-8")


def _summary(
    cost: FloatArray, quality: FloatArray, ds: OutcomeDataset, best: tuple[float, float], rng: tuple[float, float]
) -> dict[str, float]:
    hc, hq = upper_hull(cost, quality)
    c_best, q_best = best
    at_best = hull_cost_at(hc, hq, q_best)
    return {
        "aiq": aiq(cost, ds.scale.normalise(quality), rng[0], rng[1]),
        "cost_at_best": at_best,
        "cost_saving": 1.0 - at_best / c_best if c_best > 0 and not math.isnan(at_best) else math.nan,
        "quality_at_best_cost": hull_quality_at(hc, hq, c_best),
        "max_quality": float(hq.max()),
    }


def evaluate_frontier(
    dataset: OutcomeDataset,
    routers: Mapping[str, tuple[FloatArray, FloatArray]],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    tick: Callable[[], None] | None = None,
) -> FrontierReport:
    """``routers``: name → (predicted quality ``(n, m)``, decision cost per model ``(m,)``)."""
    n = len(dataset)
    if n == 0:
        raise ValueError(f"{dataset.name}: no prompts to evaluate")
    s, c = dataset.scores, dataset.costs
    rows = np.arange(n)
    mean_q, mean_c = s.mean(axis=0), c.mean(axis=0)
    best = int(np.lexsort((mean_c, -mean_q))[0])  # highest quality, then cheaper
    cheapest = int(np.argmin(mean_c))
    rng = (float(mean_c.min()), float(mean_c.max()))
    # every (name, kind, picks (L, n)); single models are one constant pick
    picks: list[tuple[str, str, IntArray]] = []
    for name, (pred, dcost) in routers.items():
        if pred.shape != s.shape:
            raise ValueError(f"router {name}: predictions {pred.shape} do not match {dataset.name} {s.shape}")
        picks.append((name, "router", sweep_picks(pred, dcost)))
    picks.append(("oracle", "oracle", _oracle_picks(s, c)))
    for j, m in enumerate(dataset.models):
        picks.append((m, "model", np.full((1, n), j, dtype=np.int64)))

    def curves(w: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
        total = float(w.sum())
        return [((c[rows, p] @ w) / total, (s[rows, p] @ w) / total) for _, _, p in picks]

    def summarise(w: FloatArray) -> list[dict[str, float]]:
        cur = curves(w)
        singles = [
            (float(cc[0]), float(qq[0])) for (_, kind, _), (cc, qq) in zip(picks, cur, strict=True) if kind == "model"
        ]
        sc, sq = np.array([x[0] for x in singles]), np.array([x[1] for x in singles])
        b = int(np.lexsort((sc, -sq))[0])
        lo_hi = (float(sc.min()), float(sc.max()))
        out = [_summary(cc, qq, dataset, (sc[b], sq[b]), lo_hi) for cc, qq in cur]
        out.append(_summary(sc, sq, dataset, (sc[b], sq[b]), lo_hi))  # random = mixing single models
        for row in out:  # paired on the same resample: is the router's AIQ above the random mix's?
            row["aiq_over_random"] = row["aiq"] - out[-1]["aiq"]
        return out

    ones = np.ones(n)
    point = summarise(ones)
    cur = curves(ones)
    boot: list[list[dict[str, float]]] = []
    gen = np.random.default_rng(seed)
    for _ in range(bootstrap):
        boot.append(summarise(np.bincount(gen.integers(0, n, n), minlength=n).astype(np.float64)))
        if tick:
            tick()
    results: list[FrontierResult] = []
    entries = [(name, kind, cc, qq) for (name, kind, _), (cc, qq) in zip(picks, cur, strict=True)]
    entries.append(("random (model mix)", "random", mean_c.copy(), mean_q.copy()))
    for i, (name, kind, cc, qq) in enumerate(entries):
        metrics = dict(point[i])
        if kind == "model":
            metrics |= {"cost": float(cc[0]), "quality": float(qq[0])}
        ci: dict[str, tuple[float, float]] = {}
        for key in METRICS:
            vals = np.array([b[i][key] for b in boot])
            vals = vals[~np.isnan(vals)]
            if bootstrap and vals.size >= 0.5 * bootstrap:  # an interval only where most resamples define it
                ci[key] = (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5)))
        results.append(FrontierResult(name, kind, np.asarray(cc), np.asarray(qq), metrics, ci))
    if bootstrap:
        _single_cis(results, s, c, bootstrap, seed)
    return FrontierReport(
        dataset=dataset.name,
        n_prompts=n,
        models=dataset.models,
        cost_unit=dataset.cost_unit,
        best_single=dataset.models[best],
        cheapest=dataset.models[cheapest],
        cost_range=rng,
        results=results,
        settings={"bootstrap": bootstrap, "seed": seed, "scale": dataset.scale.to_json()},
    )


def _oracle_picks(scores: FloatArray, costs: FloatArray) -> IntArray:
    """λ sweep on the true outcomes with the true per-prompt costs (cheapest best model at λ=0)."""
    lams = lambda_grid(scores, costs, max_points=400)
    return np.stack([choose(scores, costs, Policy(lam=float(lam))) for lam in lams])


def _single_cis(results: list[FrontierResult], s: FloatArray, c: FloatArray, bootstrap: int, seed: int) -> None:
    """Quality and cost intervals of each single model (same resamples as the routers)."""
    n = s.shape[0]
    gen = np.random.default_rng(seed)
    qs, cs = [], []
    for _ in range(bootstrap):
        w = np.bincount(gen.integers(0, n, n), minlength=n).astype(np.float64)
        qs.append(w @ s / n)
        cs.append(w @ c / n)
    q, cc = np.array(qs), np.array(cs)
    j = 0
    for r in results:
        if r.kind == "model":
            r.ci["quality"] = (float(np.percentile(q[:, j], 2.5)), float(np.percentile(q[:, j], 97.5)))
            r.ci["cost"] = (float(np.percentile(cc[:, j], 2.5)), float(np.percentile(cc[:, j], 97.5)))
            j += 1
