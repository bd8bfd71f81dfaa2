"""N-model lambda sweep: matches brute force and the hand-computed synthetic optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from modelyard.eval.metrics import upper_hull
from modelyard.eval.multimodel import choose, evaluate_multimodel, synthetic_dataset


def test_synthetic_optimum_vertices() -> None:
    ds = synthetic_dataset(200, seed=1)
    share = {k: ds.groups.count(k) / len(ds) for k in ("easy", "medium", "hard")}
    res = evaluate_multimodel(ds, ds.scores)  # perfect predictions
    # vertices: all cheap -> medium on mid -> hard on dear
    want_c = [1.0, 1.0 + 2 * share["medium"], 1.0 + 2 * share["medium"] + 9 * share["hard"]]
    want_q = [share["easy"], share["easy"] + share["medium"], 1.0]
    np.testing.assert_allclose(res.hull_cost, want_c)
    np.testing.assert_allclose(res.hull_quality, want_q)
    area = 0.5 * (want_q[0] + want_q[1]) * (want_c[1] - want_c[0]) + 0.5 * (want_q[1] + 1.0) * (
        want_c[2] - want_c[1]
    )
    area += 1.0 * (10.0 - want_c[2])
    assert res.aiq == pytest.approx(area / 9.0)


def test_sweep_hull_equals_brute_force_hull() -> None:
    rng = np.random.default_rng(0)
    ds = synthetic_dataset(6, seed=3)
    pred = rng.random((6, 3))
    scores = pred.copy()  # perfect predictions of float qualities
    ds = type(ds)(ds.name, ds.ids, ds.prompts, ds.models, scores, ds.costs * rng.uniform(0.5, 2, (6, 3)))
    res = evaluate_multimodel(ds, pred)
    rows = np.arange(6)
    brute_c, brute_q = [], []
    for alloc in itertools.product(range(3), repeat=6):
        a = np.array(alloc)
        brute_c.append(ds.costs[rows, a].mean())
        brute_q.append(ds.scores[rows, a].mean())
    bc, bq = upper_hull(np.array(brute_c), np.array(brute_q))
    np.testing.assert_allclose(res.hull_cost, bc)
    np.testing.assert_allclose(res.hull_quality, bq)


def test_ties_go_to_the_cheaper_model() -> None:
    pick = choose(np.array([[1.0, 1.0]]), np.array([[5.0, 2.0]]), 0.0)
    assert pick.tolist() == [1]
