"""Multiclass heads over sentence embeddings, predicting in plain numpy.

scikit-learn fits them (see ``train.py``); prediction is a couple of matrix
products, so a decision adds microseconds to the embedding and the gateway
loads a router without sklearn and without unpickling anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modelyard.errors import ModelLoadError

__all__ = ["HEAD_KINDS", "Arrays", "ClassifierHead", "LinearHead", "MlpHead", "head_from_arrays", "softmax"]

FloatArray = npt.NDArray[np.float32]
Arrays = dict[str, npt.NDArray[np.generic]]
HEAD_KINDS = ("linear", "mlp")


def softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


class ClassifierHead(Protocol):
    """Embeddings ``(n, d)`` → class probabilities ``(n, k)``; serialises to arrays."""

    kind: str

    @property
    def n_features(self) -> int: ...

    @property
    def n_classes(self) -> int: ...

    def predict_proba(self, x: FloatArray) -> FloatArray: ...

    def arrays(self) -> Arrays: ...


@dataclass
class LinearHead:
    """Multinomial logistic regression: ``softmax(x @ W.T + b)``."""

    coef: FloatArray  # (k, d)
    bias: FloatArray  # (k,)
    kind: str = field(default="linear", init=False)

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])

    def predict_proba(self, x: FloatArray) -> FloatArray:
        return softmax(np.asarray(x, dtype=np.float32) @ self.coef.T + self.bias)

    def arrays(self) -> Arrays:
        return {"coef": self.coef.astype(np.float32), "bias": self.bias.astype(np.float32)}


@dataclass
class MlpHead:
    """ReLU multi-layer perceptron; ``weights[i]`` has shape ``(in, out)`` as sklearn stores it."""

    weights: list[FloatArray]
    biases: list[FloatArray]
    kind: str = field(default="mlp", init=False)

    @property
    def n_features(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.weights[-1].shape[1])

    def predict_proba(self, x: FloatArray) -> FloatArray:
        h = np.asarray(x, dtype=np.float32)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return softmax(h @ self.weights[-1] + self.biases[-1])

    def arrays(self) -> Arrays:
        out: Arrays = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"w{i}"] = w.astype(np.float32)
            out[f"b{i}"] = b.astype(np.float32)
        return out


def head_from_arrays(kind: str, arrays: Arrays) -> LinearHead | MlpHead:
    """Rebuild a head from the arrays `arrays()` wrote; shape errors say which array."""
    f32 = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    if kind == "linear":
        if "coef" not in f32 or "bias" not in f32:
            raise ModelLoadError("linear head needs arrays 'coef' and 'bias'")
        coef, bias = f32["coef"], f32["bias"]
        if coef.ndim != 2 or bias.shape != (coef.shape[0],):
            raise ModelLoadError(f"linear head: coef {coef.shape} and bias {bias.shape} do not fit")
        return LinearHead(coef, bias)
    if kind == "mlp":
        n = sum(1 for k in f32 if k.startswith("w"))
        if n == 0:
            raise ModelLoadError("mlp head has no weight arrays")
        weights = [f32[f"w{i}"] for i in range(n)]
        biases = [f32[f"b{i}"] for i in range(n)]
        for i in range(n):
            if biases[i].shape != (weights[i].shape[1],) or (i and weights[i].shape[0] != weights[i - 1].shape[1]):
                raise ModelLoadError(f"mlp head: layer {i} shapes do not chain")
        return MlpHead(weights, biases)
    raise ModelLoadError(f"unknown head kind {kind!r}; known: {', '.join(HEAD_KINDS)}")
