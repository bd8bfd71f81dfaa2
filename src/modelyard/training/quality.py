"""Fit the N-model quality predictors and choose one by validation on the train split.

Candidates (`CANDIDATES`): kNN over MiniLM embeddings, an MLP head, and a matrix-
factorisation / model-embedding head (`modelyard.routing.quality_heads`). Selection
uses the training outcomes only: each task's train split is hash-split 80/20 into
fit/validation rows (salt ``VAL_SALT``); each candidate is fitted on the fit rows and
scored by the **validation AIQ** of its λ sweep (decisions use the per-model mean
costs of the fit rows, realised cost and quality the validation rows' own). With
several tasks, the criterion is the mean of the per-task validation AIQs. The chosen
candidate is refitted on all train rows and saved with an OOD reference
(`modelyard.routing.ood`) built from the same vectors.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.eval.datasets import OutcomeDataset, hash_split
from modelyard.eval.frontier import sweep_picks
from modelyard.eval.metrics import aiq
from modelyard.routing.quality_cost import OOD_FILE, QualityCostArtefact
from modelyard.routing.quality_heads import EnsembleQuality, KnnQuality, MfQuality, MlpQuality, QualityHead

__all__ = ["CANDIDATES", "QualityCandidate", "concat", "fit_quality", "train_quality_router", "validation_aiq"]

FloatArray = npt.NDArray[np.float64]
VAL_SALT = "modelyard-quality-val-1"
#: inputs with more words than this × the longest training text are out of distribution
LONG_FACTOR = 1.5
#: inputs whose known-word share is below this quantile of the training texts' are out of distribution
KNOWN_SHARE_QUANTILE = 0.005
Tick = Callable[[str], None]


@dataclass(frozen=True)
class QualityCandidate:
    kind: str
    params: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def label(self) -> str:
        if self.kind == "ens":
            return "ens(" + "+".join(str(m).split("(")[0] for m in self.as_dict()["members"]) + ")"
        return self.kind + "(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"


def _grid(kind: str, **axes: list[Any]) -> list[QualityCandidate]:
    keys = sorted(axes)
    return [
        QualityCandidate(kind, tuple(zip(keys, v, strict=True))) for v in itertools.product(*(axes[k] for k in keys))
    ]


_KNN = "knn(k=40, prior_weight=2.0, temperature=0.05)"
_MLP = "mlp(alpha=1.0, hidden=64)"
_MF = "mf(l2=0.001, rank=16)"
CANDIDATES: list[QualityCandidate] = (
    _grid("knn", k=[10, 40], temperature=[0.05], prior_weight=[2.0])
    + _grid("mlp", hidden=[64], alpha=[1e-2, 1.0])
    + _grid("mf", rank=[16], l2=[1e-3, 1e-2])
    # ensembles: the mean of members listed above (fitted once, reused)
    + [
        QualityCandidate("ens", (("members", (_KNN, _MLP)),)),
        QualityCandidate("ens", (("members", (_KNN, _MLP, _MF)),)),
    ]
)


def concat(datasets: Sequence[OutcomeDataset], name: str) -> OutcomeDataset:
    """Rows of several outcome sets over the same models, in order; groups name the source set."""
    models = datasets[0].models
    for d in datasets[1:]:
        if d.models != models:
            raise ValueError(f"{d.name} has models {d.models}, {datasets[0].name} has {models}")
    return OutcomeDataset(
        name=name,
        ids=tuple(i for d in datasets for i in d.ids),
        prompts=tuple(p for d in datasets for p in d.prompts),
        models=models,
        scores=np.concatenate([d.scores for d in datasets]),
        costs=np.concatenate([d.costs for d in datasets]),
        cost_unit=datasets[0].cost_unit,
        groups=tuple(g for d in datasets for g in (d.groups or (d.name,) * len(d))),
        score_range=datasets[0].score_range,
    )


def _quantize(x: FloatArray) -> tuple[npt.NDArray[np.int8], FloatArray]:
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return np.round(x / scale[:, None]).astype(np.int8), scale


def _fit_mf(x: FloatArray, y: FloatArray, rank: int, l2: float, seed: int, epochs: int = 400) -> MfQuality:
    """Full-batch Adam on the mean binary cross-entropy plus ``l2``·(squared weights)."""
    rng = np.random.default_rng(seed)
    d, m = x.shape[1], y.shape[1]
    base = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
    params = {
        "proj": rng.normal(0, 1 / np.sqrt(d), (d, rank)),
        "proj_bias": np.zeros(rank),
        "models": rng.normal(0, 0.1, (m, rank)),
        "model_bias": np.log(base / (1 - base)),
    }
    mom = {k: np.zeros_like(v) for k, v in params.items()}
    vel = {k: np.zeros_like(v) for k, v in params.items()}
    lr, b1, b2 = 0.01, 0.9, 0.999
    n = x.shape[0]
    for t in range(1, epochs + 1):
        h = x @ params["proj"] + params["proj_bias"]
        u = np.tanh(h)
        p = 1.0 / (1.0 + np.exp(-np.clip(u @ params["models"].T + params["model_bias"], -40, 40)))
        g = (p - y) / (n * m)  # dLoss/dlogit
        du = g @ params["models"] * (1 - u**2)
        grads = {
            "models": g.T @ u + 2 * l2 * params["models"],
            "model_bias": g.sum(axis=0),
            "proj": x.T @ du + 2 * l2 * params["proj"],
            "proj_bias": du.sum(axis=0),
        }
        for k, gk in grads.items():
            mom[k] = b1 * mom[k] + (1 - b1) * gk
            vel[k] = b2 * vel[k] + (1 - b2) * gk**2
            params[k] = params[k] - lr * (mom[k] / (1 - b1**t)) / (np.sqrt(vel[k] / (1 - b2**t)) + 1e-8)
    return MfQuality(params["proj"], params["proj_bias"], params["models"], params["model_bias"], {})


def _candidate(label: str) -> QualityCandidate:
    for cand in CANDIDATES:
        if cand.label() == label:
            return cand
    raise ValueError(f"unknown ensemble member {label!r}")


def fit_quality(
    cand: QualityCandidate,
    x: FloatArray,
    y: FloatArray,
    seed: int = 0,
    fitted: dict[str, QualityHead] | None = None,
) -> QualityHead:
    """Fit one candidate on embeddings ``x`` ``(n, d)`` and qualities ``y`` ``(n, m)`` in [0, 1].

    ``fitted``: heads already fitted on the same rows, by label (ensemble members are reused).
    """
    p = cand.as_dict()
    if cand.kind == "ens":
        fitted = fitted if fitted is not None else {}
        members = []
        for label in p["members"]:
            if label not in fitted:
                fitted[label] = fit_quality(_candidate(label), x, y, seed)
            members.append(fitted[label])
        specs = [{"kind": m.kind, "params": m.params} for m in members]
        return EnsembleQuality(members, {"members": specs, "labels": list(p["members"])})
    if cand.kind == "knn":
        keys, scale = _quantize(x)
        return KnnQuality(keys, scale, y.astype(np.float64), p)
    if cand.kind == "mlp":
        from sklearn.neural_network import MLPRegressor

        # a regressor on 0/1 (or graded) targets, squashed by the head's sigmoid: fit logits of smoothed targets
        target = np.clip(y, 0.05, 0.95)
        mlp = MLPRegressor(
            hidden_layer_sizes=(int(p["hidden"]),),
            alpha=float(p["alpha"]),
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            max_iter=500,
            random_state=seed,
        )
        mlp.fit(x, np.log(target / (1 - target)))
        return MlpQuality(mlp.coefs_[0], mlp.intercepts_[0], mlp.coefs_[1], mlp.intercepts_[1], p)
    if cand.kind == "mf":
        head = _fit_mf(x, y, int(p["rank"]), float(p["l2"]), seed)
        head.params = p
        return head
    raise ValueError(f"unknown candidate kind {cand.kind!r}")


def validation_aiq(pred: FloatArray, decision_cost: FloatArray, ds: OutcomeDataset) -> float:
    """AIQ of the λ sweep of ``pred`` on ``ds`` (range: cheapest to dearest single model)."""
    picks = sweep_picks(pred, decision_cost)
    rows = np.arange(len(ds))
    cost = ds.costs[rows, picks].mean(axis=1)
    quality = ds.scale.normalise(ds.scores[rows, picks].mean(axis=1))
    per_model = ds.costs.mean(axis=0)
    return aiq(cost, quality, float(per_model.min()), float(per_model.max()))


def _normalised(ds: OutcomeDataset) -> FloatArray:
    return np.asarray(ds.scale.normalise(ds.scores), dtype=np.float64)


@dataclass
class TrainedQuality:
    artefact: QualityCostArtefact
    rows: list[dict[str, Any]]
    chosen: str


def train_quality_router(
    train_sets: Sequence[OutcomeDataset],
    vectors: Sequence[FloatArray],
    *,
    encoder_id: str,
    max_length: int,
    view: tuple[str, int],
    version: str,
    candidates: Sequence[QualityCandidate] = CANDIDATES,
    seed: int = 0,
    tick: Tick | None = None,
) -> TrainedQuality:
    """Validate ``candidates`` on each train set's 80/20 split, refit the best on all, build the artefact."""
    folds = []
    for ds, x in zip(train_sets, vectors, strict=True):
        which = hash_split(ds.prompts, (0.8, 0.2), salt=VAL_SALT)
        folds.append((ds, x, np.flatnonzero(which == 0), np.flatnonzero(which == 1)))
    fit_x = np.concatenate([x[f] for _, x, f, _ in folds])
    fit_y = np.concatenate([_normalised(ds)[f] for ds, _, f, _ in folds])
    fit_cost = np.concatenate([ds.costs[f] for ds, _, f, _ in folds]).mean(axis=0)
    rows: list[dict[str, Any]] = []
    fitted: dict[str, QualityHead] = {}
    for cand in candidates:
        head = fit_quality(cand, fit_x, fit_y, seed, fitted)
        fitted[cand.label()] = head
        per_task = {}
        for ds, x, _, va in folds:
            per_task[ds.name] = validation_aiq(head.predict(x[va]), fit_cost, ds.subset(va))
        brier = float(
            np.mean(np.concatenate([(head.predict(x[va]) - _normalised(ds)[va]) ** 2 for ds, x, _, va in folds]))
        )
        rows.append(
            {
                "kind": cand.kind,
                "params": cand.as_dict(),
                "label": cand.label(),
                "val_aiq": per_task,
                "val_brier": round(brier, 5),
                "criterion": float(np.mean(list(per_task.values()))),
            }
        )
        if tick:
            tick(cand.label())
    best_row = max(rows, key=lambda r: r["criterion"])
    best_row["selected"] = True
    best = next(c for c in candidates if c.label() == best_row["label"])
    all_x = np.concatenate(list(vectors))
    all_sets_y = np.concatenate([_normalised(ds) for ds in train_sets])
    head = fit_quality(best, all_x, all_sets_y, seed, {})
    all_ids = sorted(i for ds in train_sets for i in ds.ids)
    models = list(train_sets[0].models)
    meta = {
        "version": version,
        "models": models,
        "mean_cost": np.concatenate([ds.costs for ds in train_sets]).mean(axis=0).tolist(),
        "cost_unit": train_sets[0].cost_unit,
        "quality": "predicted normalised score (0 = worst, 1 = best; P(correct) on 0/1 data)",
        "encoder": {"model_id": encoder_id, "max_length": max_length},
        "view": {"kind": view[0], "max_chars": view[1]},
        "training": {
            "datasets": [ds.name for ds in train_sets],
            "n_train": len(all_ids),
            "train_ids_sha256": hashlib.sha256("\n".join(all_ids).encode()).hexdigest(),
            "seed": seed,
            "validation": f"80/20 hash split of each train set (salt {VAL_SALT}); criterion: mean val AIQ",
        },
        "selection": rows,
    }
    return TrainedQuality(QualityCostArtefact(meta, head), rows, best_row["label"])


def save_with_ood(
    trained: TrainedQuality,
    out: Path,
    train_sets: Sequence[OutcomeDataset],
    vectors: Sequence[FloatArray],
    texts: Sequence[Sequence[str]],
) -> Path:
    """Write the artefact and its ``ood.npz``: reference = fit rows, threshold from the val rows (1%)."""
    from modelyard.routing.ood import NearestNeighbourOOD

    ref, ref_texts, held = [], [], []
    for ds, x, t in zip(train_sets, vectors, texts, strict=True):
        which = hash_split(ds.prompts, (0.8, 0.2), salt=VAL_SALT)
        ref.append(x[which == 0])
        ref_texts += [t[int(i)] for i in np.flatnonzero(which == 0)]
        held.append(x[which == 1])
    trained.artefact.save(out)
    ood = NearestNeighbourOOD.fit(
        np.concatenate(ref).astype(np.float32),
        ref_texts,
        np.concatenate(held).astype(np.float32),
        encoder_id=str(trained.artefact.meta["encoder"]["model_id"]),
        source=", ".join(ds.name for ds in train_sets),
        long_factor=LONG_FACTOR,
        known_share_quantile=KNOWN_SHARE_QUANTILE,
    )
    ood.save(out / OOD_FILE)
    return out
