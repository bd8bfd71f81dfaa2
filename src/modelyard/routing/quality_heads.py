"""Per-candidate quality predictors over sentence embeddings (prediction only, plain numpy).

Each head maps prompt embeddings ``x`` (shape ``(n, d)``, unit rows) to the predicted
quality of every candidate model, shape ``(n, m)``, in [0, 1] (the probability that
the model's answer is judged correct, or its normalised expected score). Fitting lives
in `modelyard.training.quality`; the gateway loads a head from an ``.npz`` of arrays
plus JSON params, without scikit-learn and without unpickling code.

* ``knn``: similarity-weighted mean outcome of the ``k`` nearest training prompts,
  shrunk towards each model's base rate (``prior_weight`` pseudo-neighbours).
* ``mlp``: one hidden ReLU layer, one sigmoid output per model.
* ``mf``: a model-embedding (matrix factorisation) head in the spirit of EmbedLLM /
  RouterDC: the prompt is projected to ``r`` dimensions, ``u = tanh(W x + b)``, each
  model has a learned vector ``e_m`` and bias ``β_m``, and
  ``P(m correct | x) = σ(u · e_m + β_m)``.
* ``ens``: the mean of member heads' predictions (arrays stored as ``<i>.<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "QUALITY_HEAD_KINDS",
    "EnsembleQuality",
    "KnnQuality",
    "MfQuality",
    "MlpQuality",
    "QualityHead",
    "load_quality_head",
]

FloatArray = npt.NDArray[np.float64]
Arrays = dict[str, npt.NDArray[np.generic]]
QUALITY_HEAD_KINDS = ("knn", "mlp", "mf", "ens")


def sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))), dtype=np.float64)


class QualityHead(Protocol):
    """A fitted predictor: ``predict(x) -> (n, m)`` qualities in [0, 1]; arrays for the ``.npz``."""

    kind: str
    params: dict[str, object]

    def predict(self, x: FloatArray) -> FloatArray: ...

    def arrays(self) -> Arrays: ...


@dataclass
class KnnQuality:
    """``keys`` int8 ``(n, d)`` with per-row ``key_scale``; ``outcomes`` ``(n, m)`` in [0, 1]."""

    keys: npt.NDArray[np.int8]
    key_scale: FloatArray
    outcomes: FloatArray
    params: dict[str, object]
    kind: str = "knn"

    def predict(self, x: FloatArray) -> FloatArray:
        k = min(int(self.params["k"]), len(self.keys))  # type: ignore[call-overload]
        temp = float(self.params["temperature"])  # type: ignore[arg-type]
        prior = float(self.params.get("prior_weight", 1.0))  # type: ignore[arg-type]
        base = self.outcomes.mean(axis=0)
        keys = self.keys.astype(np.float64).T
        out = np.empty((x.shape[0], self.outcomes.shape[1]))
        for start in range(0, x.shape[0], 512):
            sims = (x[start : start + 512] @ keys) * self.key_scale
            idx = np.argpartition(-sims, kth=k - 1, axis=1)[:, :k]
            top = np.take_along_axis(sims, idx, axis=1)
            w = np.exp((top - top.max(axis=1, keepdims=True)) / temp)
            num = np.einsum("ij,ijk->ik", w, self.outcomes[idx]) + prior * base
            out[start : start + 512] = num / (w.sum(axis=1, keepdims=True) + prior)
        return out

    def arrays(self) -> Arrays:
        return {
            "keys": self.keys,
            "key_scale": self.key_scale.astype(np.float32),
            "outcomes": self.outcomes.astype(np.float16),
        }


@dataclass
class MlpQuality:
    w1: FloatArray
    b1: FloatArray
    w2: FloatArray
    b2: FloatArray
    params: dict[str, object]
    kind: str = "mlp"

    def predict(self, x: FloatArray) -> FloatArray:
        return sigmoid(np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2)

    def arrays(self) -> Arrays:
        return {k: getattr(self, k).astype(np.float32) for k in ("w1", "b1", "w2", "b2")}


@dataclass
class MfQuality:
    """``proj`` ``(d, r)``, ``proj_bias`` ``(r,)``, ``models`` ``(m, r)``, ``model_bias`` ``(m,)``."""

    proj: FloatArray
    proj_bias: FloatArray
    models: FloatArray
    model_bias: FloatArray
    params: dict[str, object]
    kind: str = "mf"

    def predict(self, x: FloatArray) -> FloatArray:
        u = np.tanh(x @ self.proj + self.proj_bias)
        return sigmoid(u @ self.models.T + self.model_bias)

    def arrays(self) -> Arrays:
        return {k: getattr(self, k).astype(np.float32) for k in ("proj", "proj_bias", "models", "model_bias")}


@dataclass
class EnsembleQuality:
    """Mean of ``members``' predictions; ``params["members"]`` lists each member's kind and params."""

    members: list[QualityHead]
    params: dict[str, object]
    kind: str = "ens"

    def predict(self, x: FloatArray) -> FloatArray:
        return np.asarray(np.mean([m.predict(x) for m in self.members], axis=0), dtype=np.float64)

    def arrays(self) -> Arrays:
        return {f"{i}.{k}": v for i, m in enumerate(self.members) for k, v in m.arrays().items()}


def load_quality_head(
    kind: str, arrays: Mapping[str, npt.NDArray[np.generic]], params: Mapping[str, object]
) -> QualityHead:
    """Rebuild a head from its arrays and JSON params; ValueError for an unknown kind."""
    a = {k: np.asarray(v) for k, v in arrays.items()}
    p = dict(params)
    if kind == "knn":
        return KnnQuality(
            a["keys"].astype(np.int8), a["key_scale"].astype(np.float64), a["outcomes"].astype(np.float64), p
        )
    if kind == "mlp":
        w1, b1, w2, b2 = (a[k].astype(np.float64) for k in ("w1", "b1", "w2", "b2"))
        return MlpQuality(w1, b1, w2, b2, p)
    if kind == "mf":
        pr, pb, mo, mb = (a[k].astype(np.float64) for k in ("proj", "proj_bias", "models", "model_bias"))
        return MfQuality(pr, pb, mo, mb, p)
    if kind == "ens":
        specs = p.get("members")
        if not isinstance(specs, list) or not specs:
            raise ValueError("an ens head needs params.members: a list of {kind, params}")
        members = []
        for i, spec in enumerate(specs):
            sub = {k.split(".", 1)[1]: v for k, v in a.items() if k.split(".", 1)[0] == str(i)}
            members.append(load_quality_head(str(spec["kind"]), sub, dict(spec["params"])))
        return EnsembleQuality(members, p)
    raise ValueError(f"unknown quality head {kind!r}; choose from {QUALITY_HEAD_KINDS}")
