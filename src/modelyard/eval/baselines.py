"""Reference routers every result is shown against: random, always-weak/strong, oracle.

Random is reported as the mean curve over seeds with a 95% band, because a
single random draw on 1,300 prompts wobbles by several points of PGR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelyard.eval.metrics import GRID, Curve, FloatArray, apgr, two_model_curve

__all__ = ["RandomBand", "expected_random_pgr", "oracle_scores", "random_band", "random_scores"]


def random_scores(n: int, seed: int) -> FloatArray:
    """Uniform scores: a threshold on them sends a random subset to the strong model."""
    return np.random.default_rng(seed).random(n)


def oracle_scores(q_strong: FloatArray, q_weak: FloatArray) -> FloatArray:
    """The true per-prompt gain of the strong model: the best possible ranking."""
    return np.asarray(q_strong, dtype=np.float64) - np.asarray(q_weak, dtype=np.float64)


@dataclass(frozen=True)
class RandomBand:
    """Quality of random routing on ``GRID`` over seeds: mean and 2.5/97.5 percentiles."""

    shares: FloatArray
    mean: FloatArray
    lo: FloatArray
    hi: FloatArray
    apgrs: FloatArray

    def to_json(self) -> dict[str, object]:
        return {
            "shares": self.shares.tolist(),
            "quality_mean": self.mean.tolist(),
            "quality_lo": self.lo.tolist(),
            "quality_hi": self.hi.tolist(),
            "apgr_mean": float(self.apgrs.mean()),
            "apgr_ci": [float(np.percentile(self.apgrs, 2.5)), float(np.percentile(self.apgrs, 97.5))],
            "seeds": len(self.apgrs),
        }


def random_band(
    q_strong: FloatArray,
    q_weak: FloatArray,
    *,
    seeds: int = 100,
    c_strong: FloatArray | None = None,
    c_weak: FloatArray | None = None,
) -> tuple[RandomBand, list[Curve]]:
    """Random routing over ``seeds`` seeds (0..seeds-1); returns the band and the curves."""
    n = len(q_strong)
    curves = [
        two_model_curve(random_scores(n, seed), q_strong, q_weak, c_strong, c_weak) for seed in range(seeds)
    ]
    grid_q = np.stack([c.quality_at(GRID) for c in curves])
    apgrs = np.array([apgr(c) for c in curves])
    band = RandomBand(
        shares=GRID.copy(),
        mean=grid_q.mean(axis=0),
        lo=np.percentile(grid_q, 2.5, axis=0),
        hi=np.percentile(grid_q, 97.5, axis=0),
        apgrs=apgrs,
    )
    return band, curves


def expected_random_pgr() -> FloatArray:
    """Random routing recovers the gap linearly in expectation: PGR(r) = r."""
    return GRID.copy()
