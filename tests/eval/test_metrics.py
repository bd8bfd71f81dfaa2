"""Metric code checked against hand-computed curves (ties, degenerate and >1 PGR included)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelyard.eval.metrics import aiq, apgr, apgr_exact, cpt, cpt_exact, pgr, two_model_curve, upper_hull

# 4 prompts; the middle two tie. Weak 1/4 right, strong 3/4 right.
QS = [1, 1, 0, 1]
QW = [0, 1, 0, 0]


def test_curve_points_with_a_tie_group() -> None:
    c = two_model_curve([0.9, 0.5, 0.5, 0.1], QS, QW)
    assert c.shares.tolist() == [0.0, 0.25, 0.75, 1.0]  # the tie moves two prompts at once
    assert c.quality.tolist() == [0.25, 0.5, 0.5, 0.75]
    assert c.thresholds.tolist() == [math.inf, 0.9, 0.5, 0.1]


def test_apgr_and_cpt_hand_computed() -> None:
    c = two_model_curve([0.9, 0.5, 0.5, 0.1], QS, QW)
    # PGR: (0,0) (.25,.5) (.75,.5) (1,1). Exact area = .0625 + .25 + .1875.
    assert apgr_exact(c) == pytest.approx(0.5)
    # 11-point trapezoid: 0.1*(.2+.4+.5*5+.6+.8) + 0.05*(0+1)
    assert apgr(c) == pytest.approx(0.5)
    assert cpt(c, 0.5) == pytest.approx(0.3)  # grid PGR: .4 at 20%, .5 at 30%
    assert cpt_exact(c, 0.5) == pytest.approx(0.25)
    assert cpt(c, 0.2) == pytest.approx(0.1)
    assert cpt_exact(c, 0.8) == pytest.approx(0.9)
    assert cpt(c, 0.0) == 0.0


def test_all_ties_is_the_random_line() -> None:
    c = two_model_curve([0.3, 0.3, 0.3, 0.3], QS, QW)
    assert c.shares.tolist() == [0.0, 1.0]
    assert apgr(c) == pytest.approx(0.5)
    assert cpt(c, 0.5) == pytest.approx(0.5)
    assert cpt_exact(c, 0.8) == pytest.approx(0.8)


def test_oracle_and_reverse_oracle() -> None:
    qs, qw = [1, 1, 1, 0], [0, 0, 1, 0]
    oracle = two_model_curve([1, 1, 0, 0], qs, qw)
    assert apgr(oracle) == pytest.approx(0.75)  # 0.1*(.2+.4+.6+.8+5) + 0.05
    assert apgr_exact(oracle) == pytest.approx(0.75)
    assert cpt_exact(oracle, 1.0) == pytest.approx(0.5)
    reverse = two_model_curve([0, 0, 1, 1], qs, qw)
    assert apgr(reverse) == pytest.approx(0.25)
    assert cpt(reverse, 0.5) == pytest.approx(0.75)


def test_degenerate_when_strong_equals_weak() -> None:
    c = two_model_curve([0.2, 0.8], [1, 0], [0, 1])
    assert c.degenerate
    assert math.isnan(apgr(c)) and math.isnan(cpt(c, 0.5)) and math.isnan(apgr_exact(c))
    assert np.isnan(pgr(c, 0.5))


def test_pgr_can_exceed_one_when_weak_wins_some() -> None:
    # weak 1/3, strong 2/3; routing the two strong wins first reaches quality 1 (PGR 2).
    c = two_model_curve([1.0, 1.0, 0.0], [1, 1, 0], [0, 0, 1])
    assert float(pgr(c, 2 / 3)) == pytest.approx(2.0)
    assert cpt_exact(c, 0.8) == pytest.approx(0.8 / 3)
    assert float(pgr(c, 1.0)) == pytest.approx(1.0)


def test_single_prompt_and_nan_scores() -> None:
    c = two_model_curve([0.5], [1], [0])
    assert apgr(c) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        two_model_curve([math.nan], [1], [0])
    with pytest.raises(ValueError):
        two_model_curve([1.0], [1], [0], weights=np.zeros(1))


def test_weights_equal_duplicated_rows() -> None:
    s, qs, qw = [0.9, 0.4, 0.1], [1, 0, 1], [0, 0, 1]
    weighted = two_model_curve(s, qs, qw, weights=np.array([2.0, 0.0, 1.0]))
    duplicated = two_model_curve([0.9, 0.9, 0.1], [1, 1, 1], [0, 0, 1])
    np.testing.assert_allclose(weighted.quality, duplicated.quality)
    np.testing.assert_allclose(weighted.shares, duplicated.shares)


def test_costs_routed_and_cascade() -> None:
    cs, cw = [10.0, 10.0], [1.0, 1.0]
    routed = two_model_curve([1, 0], [1, 1], [0, 0], cs, cw)
    assert routed.cost.tolist() == [1.0, 5.5, 10.0]
    cascade = two_model_curve([1, 0], [1, 1], [0, 0], cs, cw, cascade=True)
    assert cascade.cost.tolist() == [1.0, 6.0, 11.0]  # the weak call is always paid


def test_upper_hull_is_non_decreasing_and_convex() -> None:
    xs, ys = upper_hull(np.array([0, 1, 2, 3.0, 4.0]), np.array([0.5, 0.9, 0.8, 1.0, 0.7]))
    assert xs.tolist() == [0.0, 1.0, 3.0]  # (2, .8) under the chord; (4, .7) after the peak
    assert ys.tolist() == [0.5, 0.9, 1.0]
    xs, ys = upper_hull(np.array([1.0, 1.0, 2.0]), np.array([0.2, 0.6, 0.6]))
    assert xs.tolist() == [1.0] and ys.tolist() == [0.6]  # same cost keeps the best; flat is not a gain


def test_aiq_hand_computed() -> None:
    cost, quality = np.array([0, 1, 2, 3.0]), np.array([0.5, 0.9, 0.8, 1.0])
    assert aiq(cost, quality, 0.0, 3.0) == pytest.approx((0.7 + 1.9) / 3)
    # below the cheapest point nothing is attainable (0); beyond the dearest it stays flat
    assert aiq(np.array([1.0, 2.0]), np.array([0.5, 0.8]), 0.0, 3.0) == pytest.approx((0.65 + 0.8) / 3)
    assert aiq(np.array([1.0]), np.array([0.5]), 1.0, 1.0) == pytest.approx(0.5)  # zero-width range
    assert aiq(np.array([1.0]), np.array([0.5]), 0.0, 2.0) == pytest.approx(0.25)
