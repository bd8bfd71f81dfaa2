"""Score a set of strong/weak routers on one dataset: curves, metrics, bootstrap CIs.

The input is one score vector per router (higher = "strong model needed"), so
any router - a trained scorer, a cascade judge, a baseline - is evaluated by
exactly the same code. Confidence intervals resample *prompts* with
replacement and re-run the whole sweep on each resample.

Quality values (``weak_quality``, ``strong_quality``, ``quality``, the grid and
the random band) are in the dataset's score unit (`Report.scale`); ``aiq`` is
normalised to the score range (a fraction in [0, 1]); APGR and CPT are
scale-free.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelyard.eval.baselines import RandomBand, oracle_scores, random_band
from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.metrics import (
    GRID,
    Curve,
    FloatArray,
    aiq,
    apgr,
    apgr_exact,
    cpt,
    cpt_exact,
    two_model_curve,
)
from modelyard.eval.scale import UNIT, ScoreScale

__all__ = ["Report", "RouterResult", "evaluate_routers", "summarize"]

CPT_LEVELS = (0.2, 0.5, 0.8)
Tick = Callable[[], None]


def summarize(
    curve: Curve, c_lo: float, c_hi: float, *, with_aiq: bool = True, scale: ScoreScale = UNIT
) -> dict[str, float]:
    """Every scalar metric of one curve (NaN where undefined).

    Qualities in score units; ``aiq`` on quality normalised by ``scale`` (a fraction of the range).
    """
    out = {
        "apgr": apgr(curve),
        "apgr_exact": apgr_exact(curve),
        "weak_quality": curve.weak_quality,
        "strong_quality": curve.strong_quality,
    }
    if with_aiq:
        out["aiq"] = aiq(curve.cost, scale.normalise(curve.quality), c_lo, c_hi)
    for x in CPT_LEVELS:
        out[f"cpt{round(x * 100)}"] = cpt(curve, x)
        out[f"cpt{round(x * 100)}_exact"] = cpt_exact(curve, x)
    return out


@dataclass
class RouterResult:
    """One router's curve, its metrics and bootstrap 95% intervals."""

    name: str
    kind: str
    curve: Curve
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        grid_q = self.curve.quality_at(GRID)
        return {
            "name": self.name,
            "kind": self.kind,
            "metrics": {k: _clean(v) for k, v in self.metrics.items()},
            "ci95": {k: [_clean(a), _clean(b)] for k, (a, b) in self.ci.items()},
            "grid": {
                "shares": GRID.tolist(),
                "quality": grid_q.tolist(),
                "cost": self.curve.cost_at(GRID).tolist(),
            },
            "curve_points": len(self.curve.shares),
        }


@dataclass
class Report:
    """All routers on one dataset, plus the random band; serialisable to JSON.

    ``scale``: the unit of every quality value (``aiq`` is normalised to it).
    """

    dataset: str
    n_prompts: int
    strong: str
    weak: str
    cost_unit: str
    results: list[RouterResult]
    random: RandomBand
    settings: dict[str, object]
    scale: ScoreScale = UNIT

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "n_prompts": self.n_prompts,
            "strong": self.strong,
            "weak": self.weak,
            "cost_unit": self.cost_unit,
            "score_scale": self.scale.to_json(),
            "units": {
                "quality": f"mean score ({self.scale.unit})" if not self.scale.is_unit else "mean score (0..1)",
                "aiq": "fraction of the score range (0 = worst score, 1 = best)",
                "apgr": "ratio (scale-free)",
                "cpt": "share of strong calls (0..1)",
            },
            "settings": self.settings,
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "processor": platform.processor(),
            },
            "random": self.random.to_json(),
            "routers": [r.to_json() for r in self.results],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def _clean(v: float) -> float | None:
    return None if v is None or math.isnan(v) else round(float(v), 6)


def _bootstrap(
    score: FloatArray,
    qs: FloatArray,
    qw: FloatArray,
    cs: FloatArray,
    cw: FloatArray,
    *,
    cascade: bool,
    weights: FloatArray,
    c_lo: float,
    c_hi: float,
    tick: Tick | None,
) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[float]] = {}
    for w in weights:
        curve = two_model_curve(score, qs, qw, cs, cw, weights=w, cascade=cascade)
        for k, v in summarize(curve, c_lo, c_hi, with_aiq=False).items():
            samples.setdefault(k, []).append(v)
        if tick:
            tick()
    out: dict[str, tuple[float, float]] = {}
    for k, vals in samples.items():
        arr = np.array(vals)
        arr = arr[~np.isnan(arr)]
        out[k] = (
            (float(np.percentile(arr, 2.5)), float(np.percentile(arr, 97.5)))
            if arr.size
            else (math.nan, math.nan)
        )
    return out


def evaluate_routers(
    dataset: OutcomeDataset,
    routers: Mapping[str, FloatArray],
    *,
    strong: str,
    weak: str,
    cascades: Mapping[str, FloatArray] | None = None,
    bootstrap: int = 1000,
    random_seeds: int = 100,
    seed: int = 0,
    tick: Tick | None = None,
) -> Report:
    """Evaluate pre-routing ``routers`` and weak-first ``cascades`` (score vectors).

    The oracle and always-weak/always-strong rows are added automatically;
    ``tick`` is called once per bootstrap resample (for a progress bar).
    """
    scale = dataset.scale
    js, jw = dataset.column(strong), dataset.column(weak)
    qs, qw = dataset.scores[:, js], dataset.scores[:, jw]
    cs, cw = dataset.costs[:, js], dataset.costs[:, jw]
    c_lo, c_hi = float(cw.mean()), float(cs.mean())
    n = len(dataset)
    rng = np.random.default_rng(seed)
    weights = (
        rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(np.float64)
        if bootstrap
        else np.zeros((0, n))
    )
    entries: list[tuple[str, str, FloatArray, bool]] = [("oracle", "baseline", oracle_scores(qs, qw), False)]
    entries += [(name, "router", np.asarray(s, dtype=np.float64), False) for name, s in routers.items()]
    entries += [
        (name, "cascade", np.asarray(s, dtype=np.float64), True) for name, s in (cascades or {}).items()
    ]
    results: list[RouterResult] = []
    for name, kind, score, is_cascade in entries:
        if score.shape != (n,):
            raise ValueError(f"router {name!r}: {score.shape[0]} scores for {n} prompts")
        curve = two_model_curve(score, qs, qw, cs, cw, cascade=is_cascade)
        ci = _bootstrap(
            score, qs, qw, cs, cw, cascade=is_cascade, weights=weights, c_lo=c_lo, c_hi=c_hi, tick=tick
        )
        results.append(RouterResult(name, kind, curve, summarize(curve, c_lo, c_hi, scale=scale), ci))
    band, rand_curves = random_band(qs, qw, seeds=random_seeds, c_strong=cs, c_weak=cw)
    rand_metrics = [summarize(c, c_lo, c_hi, scale=scale) for c in rand_curves]
    mean_metrics = {k: float(np.nanmean([m[k] for m in rand_metrics])) for k in rand_metrics[0]}
    spread = {
        k: (
            float(np.nanpercentile([m[k] for m in rand_metrics], 2.5)),
            float(np.nanpercentile([m[k] for m in rand_metrics], 97.5)),
        )
        for k in rand_metrics[0]
    }
    results.insert(
        1,
        RouterResult(
            f"random (mean of {random_seeds} seeds)", "baseline", rand_curves[0], mean_metrics, spread
        ),
    )
    for name, score in (("always-weak", np.zeros(n)), ("always-strong", np.ones(n))):
        curve = two_model_curve(score, qs, qw, cs, cw)
        point = 0 if name == "always-weak" else -1
        results.append(
            RouterResult(
                name,
                "baseline",
                curve,
                {
                    "quality": float(curve.quality[point]),
                    "cost": float(curve.cost[point]),
                    "share": float(curve.shares[point]),
                },
            )
        )
    return Report(
        dataset=dataset.name,
        n_prompts=n,
        strong=strong,
        weak=weak,
        cost_unit=dataset.cost_unit,
        results=results,
        random=band,
        settings={
            "bootstrap": bootstrap,
            "random_seeds": random_seeds,
            "seed": seed,
            "aiq_cost_range": [c_lo, c_hi],
        },
        scale=scale,
    )
