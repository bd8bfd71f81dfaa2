"""Cost-quality curves and the metrics routers are compared by: PGR, APGR, CPT, AIQ.

A strong/weak router is a score per prompt ("strong model needed"); sweeping a
threshold ``score >= t`` over it traces quality against the share of strong
calls. Prompts with *equal* scores cannot be split by a threshold, so the
achievable points sit at tie-group boundaries and the curve between them is
the straight line a randomised tie-break achieves in expectation. Everything
below works on that piecewise-linear curve, so ties are exact, not arbitrary.

Definitions (RouteLLM: Ong et al., arXiv 2406.18665, section 4; RouterBench:
Hu et al. (Martian), arXiv 2403.12031, section 3):

Quality ``Q`` is the mean per-prompt score, in the scores' own unit (0/1
correctness, 1-10 judge scores, rewards; higher is better). PGR, APGR and CPT
are ratios of quality differences, hence the same for any scores ``a*s + b``
with ``a > 0``: they need no scale. AIQ does; see :func:`aiq`.

* ``PGR(r) = (Q(r) - Q_weak) / (Q_strong - Q_weak)`` with ``Q_weak = Q(0)``,
  ``Q_strong = Q(1)`` on the same prompts. Undefined (NaN) when the two are equal.
* ``APGR`` = area under PGR over ``r`` in [0, 1], by the trapezoid rule on the
  11 shares 0%, 10%, ..., 100% (what RouteLLM's released evaluator computes;
  a random router scores 0.5). :func:`apgr_exact` integrates the full curve.
* ``CPT(x)`` = smallest strong-call share whose PGR reaches ``x``, on the same
  11-point curve (:func:`cpt_exact`: on the full-resolution curve).
* ``AIQ`` = mean over cost in ``[c_lo, c_hi]`` of the non-decreasing upper
  convex hull of the (cost, quality) points, with quality normalised to the
  score range (0 = worst score, 1 = best); below the cheapest point nothing
  is attainable and the hull counts as 0, the worst score.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "GRID",
    "Curve",
    "aiq",
    "apgr",
    "apgr_exact",
    "cpt",
    "cpt_exact",
    "pgr",
    "two_model_curve",
    "upper_hull",
]

FloatArray = npt.NDArray[np.float64]
#: The 11 strong-call shares APGR and CPT are read at.
GRID: FloatArray = np.linspace(0.0, 1.0, 11)
_EPS = 1e-12


@dataclass(frozen=True)
class Curve:
    """Piecewise-linear sweep: point ``k`` routes the top-``k`` tie groups to strong.

    ``thresholds[k]`` is the score threshold giving point ``k`` (``inf`` for none).
    """

    shares: FloatArray
    quality: FloatArray
    cost: FloatArray
    thresholds: FloatArray

    @property
    def weak_quality(self) -> float:
        return float(self.quality[0])

    @property
    def strong_quality(self) -> float:
        return float(self.quality[-1])

    @property
    def degenerate(self) -> bool:
        """True when strong and weak quality coincide, so PGR is undefined."""
        return abs(self.strong_quality - self.weak_quality) <= _EPS

    def quality_at(self, shares: FloatArray | float) -> FloatArray:
        return np.asarray(np.interp(shares, self.shares, self.quality), dtype=np.float64)

    def cost_at(self, shares: FloatArray | float) -> FloatArray:
        return np.asarray(np.interp(shares, self.shares, self.cost), dtype=np.float64)


def two_model_curve(
    score: Sequence[float] | FloatArray,
    q_strong: Sequence[float] | FloatArray,
    q_weak: Sequence[float] | FloatArray,
    c_strong: Sequence[float] | FloatArray | None = None,
    c_weak: Sequence[float] | FloatArray | None = None,
    *,
    weights: FloatArray | None = None,
    cascade: bool = False,
) -> Curve:
    """Sweep ``score >= t`` from ``t = inf`` (all weak) down to all strong.

    ``cascade=True`` charges the weak call on every prompt (weak first, then
    escalate); otherwise each prompt pays only the model it is routed to.
    ``weights`` (e.g. bootstrap counts) weight prompts; zero-weight prompts drop out.
    """
    s = np.asarray(score, dtype=np.float64)
    qs = np.asarray(q_strong, dtype=np.float64)
    qw = np.asarray(q_weak, dtype=np.float64)
    n = s.shape[0]
    cs = np.ones(n) if c_strong is None else np.asarray(c_strong, dtype=np.float64)
    cw = np.zeros(n) if c_weak is None else np.asarray(c_weak, dtype=np.float64)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (qs.shape == qw.shape == cs.shape == cw.shape == w.shape == (n,)):
        raise ValueError("score, qualities, costs and weights must all have shape (n,)")
    if np.isnan(s).any():
        raise ValueError("router scores contain NaN")
    keep = w > 0
    s, qs, qw, cs, cw, w = s[keep], qs[keep], qw[keep], cs[keep], cw[keep], w[keep]
    total = float(w.sum())
    if total <= 0:
        raise ValueError("empty dataset: no prompts with positive weight")
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    gain = np.add.reduceat((w * (qs - qw))[order], starts)
    dcost = np.add.reduceat((w * (cs - cw))[order], starts)
    mass = np.add.reduceat(w[order], starts)
    base_q = float((w * qw).sum())
    base_c = float((w * cw).sum())
    if cascade:  # the weak call is already paid; escalating adds the strong call
        dcost = np.add.reduceat((w * cs)[order], starts)
    shares = np.r_[0.0, np.cumsum(mass)] / total
    shares[-1] = 1.0
    return Curve(
        shares=shares,
        quality=(base_q + np.r_[0.0, np.cumsum(gain)]) / total,
        cost=(base_c + np.r_[0.0, np.cumsum(dcost)]) / total,
        thresholds=np.r_[math.inf, s_sorted[starts]],
    )


def pgr(curve: Curve, shares: FloatArray | float) -> FloatArray:
    """Performance gap recovered at ``shares``; NaN everywhere if the curve is degenerate."""
    q = curve.quality_at(shares)
    if curve.degenerate:
        return np.full_like(q, math.nan)
    return (q - curve.weak_quality) / (curve.strong_quality - curve.weak_quality)


def apgr(curve: Curve, grid: FloatArray = GRID) -> float:
    """Trapezoid area under PGR on ``grid`` (default 0%, 10%, ..., 100%)."""
    return float(np.trapezoid(pgr(curve, grid), grid))


def apgr_exact(curve: Curve) -> float:
    """Exact area under the full piecewise-linear PGR curve."""
    return float(np.trapezoid(pgr(curve, curve.shares), curve.shares))


def _first_crossing(xs: FloatArray, ys: FloatArray, target: float) -> float:
    """Smallest ``x`` where the piecewise-linear ``ys(xs)`` reaches ``target``."""
    hits = np.flatnonzero(ys >= target - _EPS)
    if hits.size == 0:
        return math.nan
    j = int(hits[0])
    if j == 0:
        return float(xs[0])
    y0, y1 = float(ys[j - 1]), float(ys[j])
    frac = (target - y0) / (y1 - y0)
    return float(xs[j - 1] + min(1.0, max(0.0, frac)) * (xs[j] - xs[j - 1]))


def cpt(curve: Curve, x: float, grid: FloatArray = GRID) -> float:
    """Strong-call share needed to recover fraction ``x`` of the gap (11-point curve)."""
    if curve.degenerate:
        return math.nan
    return _first_crossing(grid, pgr(curve, grid), x)


def cpt_exact(curve: Curve, x: float) -> float:
    """As :func:`cpt`, on the full-resolution curve."""
    if curve.degenerate:
        return math.nan
    return _first_crossing(curve.shares, pgr(curve, curve.shares), x)


def upper_hull(cost: FloatArray, quality: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vertices of the non-decreasing upper convex hull of (cost, quality) points.

    Mixing two router settings at random reaches any point on the segment
    between them, and spending more can never force lower quality, so this is
    the best quality attainable at each budget.
    """
    c = np.asarray(cost, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    order = np.lexsort((-q, c))
    hull: list[tuple[float, float]] = []
    for ci, qi in zip(c[order], q[order], strict=True):
        if hull and abs(hull[-1][0] - ci) <= _EPS:
            continue  # same cost, lower or equal quality (sorted by -q)
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (qi - y1) - (y2 - y1) * (ci - x1) >= -_EPS:
                hull.pop()  # middle point on or below the chord
            else:
                break
        hull.append((float(ci), float(qi)))
    xs = np.array([h[0] for h in hull])
    ys = np.array([h[1] for h in hull])
    peak = int(np.argmax(ys))
    return xs[: peak + 1], ys[: peak + 1]


def aiq(cost: FloatArray, quality: FloatArray, c_lo: float, c_hi: float) -> float:
    """RouterBench's Average Improvement in Quality over the budget range ``[c_lo, c_hi]``.

    RouterBench (Hu et al., Martian, arXiv 2403.12031, eq. 4) defines
    ``AIQ = 1/(c_hi - c_lo) * ∫ R~(c) dc`` over ``[c_lo, c_hi]``, where ``R~`` is
    the non-decreasing upper convex hull of the router's (cost, performance)
    points and performance lies in [0, 1]. Pass ``quality`` *normalised* to
    that range (``ScoreScale.normalise``: 0 = worst score, 1 = best), so the
    result is a fraction of the score range whatever the scores' unit, and
    budgets below the cheapest point count as the worst score (0). On 0/1
    correctness the normalisation is the identity. ``cost`` and ``quality``:
    shape ``(k,)`` points; costs in any unit, the same as ``c_lo``/``c_hi``.
    """
    xs, ys = upper_hull(cost, quality)

    def f(c: float) -> float:
        if c < xs[0] - _EPS:
            return 0.0
        return float(np.interp(c, xs, ys))

    if c_hi - c_lo <= _EPS:
        return f(c_lo)
    inner = xs[(xs > c_lo) & (xs < c_hi)]
    edges = np.unique(np.r_[c_lo, inner, c_hi])
    area = 0.0
    for a, b in itertools.pairwise(edges):
        area += f(0.5 * (a + b)) * (b - a)  # f is linear between edges (xs[0] is an edge)
    return area / (c_hi - c_lo)
