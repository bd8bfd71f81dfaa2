"""Score heads over sentence embeddings: how much would the strong model help here?

Each head estimates, for a prompt embedding ``x``, ``p_s(x) = P(strong correct)``
and ``p_w(x) = P(weak correct)``; the routing score is the expected gain
``p_s - p_w`` (``target="gain"``) or ``1 - p_w`` (``target="weak_wrong"``).
scikit-learn is used to *fit* only; every head predicts in plain numpy from
arrays saved in an ``.npz``, so the gateway loads a router without sklearn
and without unpickling code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["HEAD_KINDS", "Head", "KnnHead", "LinearHead", "MlpHead", "fit_head", "load_head"]

FloatArray = npt.NDArray[np.float64]
Arrays = dict[str, npt.NDArray[np.generic]]
Target = Literal["gain", "weak_wrong"]
HEAD_KINDS = ("logreg", "knn", "mlp")


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))), dtype=np.float64)


def _combine(p_s: FloatArray, p_w: FloatArray, target: str) -> FloatArray:
    return p_s - p_w if target == "gain" else 1.0 - p_w


class Head(Protocol):
    """A fitted score head: numpy-only prediction, array + JSON serialisation."""

    kind: str
    params: dict[str, object]

    def probs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]: ...

    def arrays(self) -> Arrays: ...


def score(head: Head, x: FloatArray) -> FloatArray:
    """Routing score for embeddings ``x`` (higher = strong model more useful)."""
    p_s, p_w = head.probs(np.asarray(x, dtype=np.float64))
    return _combine(p_s, p_w, str(head.params.get("target", "gain")))


@dataclass
class LinearHead:
    """Two L2-regularised logistic regressions (strong correct, weak correct)."""

    coef: FloatArray  # (2, d): row 0 strong, row 1 weak
    bias: FloatArray  # (2,)
    params: dict[str, object]
    kind: str = "logreg"

    def probs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = _sigmoid(x @ self.coef.T + self.bias)
        return p[:, 0], p[:, 1]

    def arrays(self) -> Arrays:
        return {"coef": self.coef.astype(np.float32), "bias": self.bias.astype(np.float32)}


@dataclass
class KnnHead:
    """Similarity-weighted k nearest training prompts (cosine on unit vectors).

    Keys are stored as int8 with one scale per row (4x smaller than float32,
    cosine error < 1e-3), which keeps the shipped artefact a few MB.
    """

    keys: npt.NDArray[np.int8]
    key_scale: FloatArray
    outcomes: FloatArray  # (n, 2): strong correct, weak correct
    params: dict[str, object]
    kind: str = "knn"

    def probs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        k = int(self.params["k"])  # type: ignore[call-overload]
        temp = float(self.params["temperature"])  # type: ignore[arg-type]
        prior = float(self.params.get("prior_weight", 1.0))  # type: ignore[arg-type]
        base = self.outcomes.mean(axis=0)
        out = np.empty((x.shape[0], 2))
        for start in range(0, x.shape[0], 512):
            sims = (x[start : start + 512] @ self.keys.T.astype(np.float64)) * self.key_scale
            idx = np.argpartition(-sims, kth=min(k, sims.shape[1] - 1), axis=1)[:, :k]
            top = np.take_along_axis(sims, idx, axis=1)
            w = np.exp((top - top.max(axis=1, keepdims=True)) / temp)
            num = np.einsum("ij,ijk->ik", w, self.outcomes[idx]) + prior * base
            out[start : start + 512] = num / (w.sum(axis=1, keepdims=True) + prior)
        return out[:, 0], out[:, 1]

    def arrays(self) -> Arrays:
        return {
            "keys": self.keys,
            "key_scale": self.key_scale.astype(np.float32),
            "outcomes": self.outcomes.astype(np.int8),
        }


@dataclass
class MlpHead:
    """One hidden ReLU layer, two sigmoid outputs (strong correct, weak correct)."""

    w1: FloatArray
    b1: FloatArray
    w2: FloatArray
    b2: FloatArray
    params: dict[str, object]
    kind: str = "mlp"

    def probs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        p = _sigmoid(h @ self.w2 + self.b2)
        return p[:, 0], p[:, 1]

    def arrays(self) -> Arrays:
        return {k: getattr(self, k).astype(np.float32) for k in ("w1", "b1", "w2", "b2")}


def _quantize(x: FloatArray) -> tuple[npt.NDArray[np.int8], FloatArray]:
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return np.round(x / scale[:, None]).astype(np.int8), scale


def fit_head(
    kind: str,
    x: FloatArray,
    q_strong: FloatArray,
    q_weak: FloatArray,
    params: Mapping[str, object],
    seed: int = 0,
) -> Head:
    """Fit one head; ``params`` holds its hyper-parameters plus ``target``."""
    y = np.stack([q_strong >= 0.5, q_weak >= 0.5], axis=1).astype(np.int64)
    p = dict(params)
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        rows = []
        for col in range(2):
            if len(np.unique(y[:, col])) < 2:  # one class only: a constant probability
                rate = float(np.clip(y[:, col].mean(), 1e-3, 1 - 1e-3))
                rows.append((np.zeros(x.shape[1]), float(np.log(rate / (1 - rate)))))
                continue
            model = LogisticRegression(C=float(p["C"]), max_iter=2000)  # type: ignore[arg-type]
            model.fit(x, y[:, col])
            rows.append((model.coef_[0], float(model.intercept_[0])))
        return LinearHead(np.stack([r[0] for r in rows]), np.array([r[1] for r in rows]), p)
    if kind == "knn":
        keys, scale = _quantize(np.asarray(x, dtype=np.float64))
        return KnnHead(keys, scale, y.astype(np.float64), p)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier(
            hidden_layer_sizes=(int(p["hidden"]),),  # type: ignore[call-overload]
            alpha=float(p["alpha"]),  # type: ignore[arg-type]
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=int(p.get("patience", 20)),  # type: ignore[call-overload]
            learning_rate_init=float(p.get("lr", 1e-3)),  # type: ignore[arg-type]
            max_iter=500,
            random_state=seed,
        )
        mlp.fit(x, y)
        return MlpHead(mlp.coefs_[0], mlp.intercepts_[0], mlp.coefs_[1], mlp.intercepts_[1], p)
    raise ValueError(f"unknown head {kind!r}; choose from {HEAD_KINDS}")


def load_head(kind: str, arrays: Mapping[str, npt.NDArray[np.generic]], params: Mapping[str, object]) -> Head:
    """Rebuild a head from :meth:`Head.arrays` output and its JSON params."""
    a = {k: np.asarray(v) for k, v in arrays.items()}
    p = dict(params)
    if kind == "logreg":
        return LinearHead(a["coef"].astype(np.float64), a["bias"].astype(np.float64), p)
    if kind == "knn":
        return KnnHead(
            a["keys"].astype(np.int8), a["key_scale"].astype(np.float64), a["outcomes"].astype(np.float64), p
        )
    if kind == "mlp":
        w1, b1, w2, b2 = (a[k].astype(np.float64) for k in ("w1", "b1", "w2", "b2"))
        return MlpHead(w1, b1, w2, b2, p)
    raise ValueError(f"unknown head {kind!r}; choose from {HEAD_KINDS}")
