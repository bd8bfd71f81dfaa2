"""Train on one task, test on another: the generalisation matrix for both router kinds.

* **Strong/weak score head** (``kind: threshold``): strong = GPT-4 (gpt-4-1106-preview),
  weak = Mixtral-8x7B, present in all five tasks. Head: the shipped selection's
  logistic-regression gain head (C = 0.1), refitted on each training set. Metric: APGR
  on the test task's test split, 95% bootstrap interval; random routing scores 0.5,
  so "better than random" means the interval's lower end is above 0.5.
* **N-model router** (``kind: quality_cost``, 11 models): the three RouterBench tasks.
  For each training set the head is chosen among kNN / MLP / MF by validation AIQ on
  that training set only (`modelyard.training.quality`), decisions use the training
  set's mean cost per model. Metric: AIQ on the test task's test split and AIQ minus
  the random model mix's, paired per bootstrap resample.

Rows: each single task, plus "all other tasks" (leave the test task out). Diagonal
cells train and test on the same task (different splits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.frontier import evaluate_frontier
from modelyard.eval.metrics import apgr, two_model_curve
from modelyard.routing.threshold_heads import fit_head, score
from modelyard.training.quality import CANDIDATES, QualityCandidate, train_quality_router
from modelyard.training.tasks import MAX_LENGTH, ROUTERBENCH, TASKS, VIEW, embed, load_task

__all__ = ["N_MODEL_CANDIDATES", "PAIR", "pair_matrix", "quality_matrix"]

FloatArray = npt.NDArray[np.float64]
Log = Callable[[str], None]
#: (strong, weak) column names per source
PAIR = {
    "routerbench": ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"),
    "routellm": ("gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
}
N_MODEL_CANDIDATES = [
    QualityCandidate("knn", (("k", 40), ("prior_weight", 2.0), ("temperature", 0.05))),
    QualityCandidate("mlp", (("alpha", 1.0), ("hidden", 64))),
    QualityCandidate("mf", (("l2", 1e-3), ("rank", 16))),
    *(c for c in CANDIDATES if c.kind == "ens"),
]


def _pair(ds: OutcomeDataset) -> tuple[FloatArray, FloatArray]:
    strong, weak = PAIR["routerbench" if ds.name.startswith("routerbench") else "routellm"]
    return ds.scores[:, ds.column(strong)], ds.scores[:, ds.column(weak)]


def _train_sets(test_task: str, tasks: Sequence[str]) -> list[tuple[str, list[str]]]:
    rows = [(t, [t]) for t in tasks]
    rows.append(("all other tasks", [t for t in tasks if t != test_task]))
    return rows


def _apgr_ci(s: FloatArray, qs: FloatArray, qw: FloatArray, bootstrap: int, seed: int) -> tuple[float, float, float]:
    point = apgr(two_model_curve(s, qs, qw))
    rng = np.random.default_rng(seed)
    vals = []
    n = len(s)
    for _ in range(bootstrap):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        v = apgr(two_model_curve(s, qs, qw, weights=w))
        if not np.isnan(v):
            vals.append(v)
    return point, float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def pair_matrix(
    tasks: Sequence[str] = TASKS, *, bootstrap: int = 1000, seed: int = 0, log: Log | None = None
) -> list[dict[str, Any]]:
    """One cell per (training set, test task): APGR [95% CI] of the strong/weak logreg head."""
    cells = []
    for test_task in tasks:
        test = load_task(test_task, "test")
        xt = embed(test)
        qs_t, qw_t = _pair(test)
        for label, train_tasks in _train_sets(test_task, tasks):
            xs, qs, qw = [], [], []
            for t in train_tasks:
                ds = load_task(t, "train")
                a, b = _pair(ds)
                xs.append(embed(ds))
                qs.append(a)
                qw.append(b)
            head = fit_head(
                "logreg", np.concatenate(xs), np.concatenate(qs), np.concatenate(qw), {"C": 0.1, "target": "gain"}, seed
            )
            point, lo, hi = _apgr_ci(score(head, xt), qs_t, qw_t, bootstrap, seed)
            cells.append(
                {
                    "train": label,
                    "test": test_task,
                    "apgr": point,
                    "ci95": [lo, hi],
                    "n_test": len(test),
                    "better_than_random": lo > 0.5,
                }
            )
            if log:
                log(f"pair {label} -> {test_task}: APGR {point:.3f} [{lo:.3f}, {hi:.3f}]")
    return cells


def quality_matrix(
    tasks: Sequence[str] = ROUTERBENCH, *, bootstrap: int = 1000, seed: int = 0, log: Log | None = None
) -> list[dict[str, Any]]:
    """One cell per (training set, test task): AIQ and AIQ − random [95% CI] of the N-model router."""
    from modelyard.encoders import MiniLMEncoder

    enc_id = MiniLMEncoder(max_length=MAX_LENGTH).model_id
    fitted: dict[str, Any] = {}
    cells = []
    for test_task in tasks:
        test = load_task(test_task, "test")
        xt = embed(test)
        for label, train_tasks in _train_sets(test_task, tasks):
            key = "+".join(train_tasks)
            if key not in fitted:
                sets = [load_task(t, "train") for t in train_tasks]
                fitted[key] = train_quality_router(
                    sets,
                    [embed(d) for d in sets],
                    encoder_id=enc_id,
                    max_length=MAX_LENGTH,
                    view=VIEW,
                    version=key,
                    candidates=N_MODEL_CANDIDATES,
                    seed=seed,
                )
            trained = fitted[key]
            art = trained.artefact
            rep = evaluate_frontier(
                test, {"router": (art.head.predict(xt), art.mean_cost)}, bootstrap=bootstrap, seed=seed
            )
            r, rnd = rep.get("router"), rep.get("random (model mix)")
            gain_ci = r.ci.get("aiq_over_random", (float("nan"), float("nan")))
            cells.append(
                {
                    "train": label,
                    "test": test_task,
                    "head": trained.chosen,
                    "aiq": r.metrics["aiq"],
                    "aiq_ci95": list(r.ci.get("aiq", (float("nan"),) * 2)),
                    "random_aiq": rnd.metrics["aiq"],
                    "aiq_over_random": r.metrics["aiq_over_random"],
                    "aiq_over_random_ci95": list(gain_ci),
                    "oracle_aiq": rep.get("oracle").metrics["aiq"],
                    "better_than_random": gain_ci[0] > 0,
                    "n_test": len(test),
                }
            )
            if log:
                log(
                    f"n-model {label} -> {test_task} [{trained.chosen}]: AIQ {r.metrics['aiq']:.3f}, "
                    f"over random {r.metrics['aiq_over_random']:+.3f} [{gain_ci[0]:+.3f}, {gain_ci[1]:+.3f}]"
                )
    return cells
