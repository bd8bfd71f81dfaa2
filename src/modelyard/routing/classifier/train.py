"""Train a classifier router: MiniLM embeddings → a small head chosen by cross-validation.

Model selection uses grouped k-fold on the training file only: rows from the same
template (``source``) stay in one fold, so the score rewards heads that generalise
to unseen phrasings rather than ones that memorise a template. The chosen head is
refit on all training rows and evaluated once on the held-out file.
scikit-learn is needed here, never at prediction time.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.encoders.base import Encoder, Vectors
from modelyard.errors import ConfigError
from modelyard.routing.classifier.artefact import ClassifierArtefact
from modelyard.routing.classifier.head import LinearHead, MlpHead
from modelyard.routing.embedding_cache import EmbeddingCache

__all__ = [
    "CANDIDATES",
    "HeadChoice",
    "LabeledSet",
    "TrainResult",
    "evaluate",
    "load_labeled",
    "split_holdout",
    "train_router",
]

Progress = Callable[[str], None]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HeadChoice:
    kind: str  # "linear" | "mlp"
    c: float = 1.0  # inverse L2 strength (linear)
    hidden: int = 0  # hidden width (mlp)
    alpha: float = 0.0  # L2 strength (mlp)

    def label(self) -> str:
        return f"linear(C={self.c:g})" if self.kind == "linear" else f"mlp({self.hidden}, alpha={self.alpha:g})"


CANDIDATES: tuple[HeadChoice, ...] = (
    HeadChoice("linear", c=1.0),
    HeadChoice("linear", c=4.0),
    HeadChoice("linear", c=16.0),
    HeadChoice("linear", c=64.0),
    HeadChoice("mlp", hidden=128, alpha=1e-3),
    HeadChoice("mlp", hidden=128, alpha=1e-2),
    HeadChoice("mlp", hidden=256, alpha=1e-2),
)


@dataclass
class LabeledSet:
    """Rows of a labelled JSONL file: ``{"text", "label", "source"?, "has_image"?}``."""

    texts: list[str]
    labels: list[str]
    groups: list[str]
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: Sequence[int]) -> LabeledSet:
        return LabeledSet([self.texts[i] for i in idx], [self.labels[i] for i in idx], [self.groups[i] for i in idx])


def load_labeled(path: str | Path) -> LabeledSet:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("labelled data file not found", file=str(path))
    raw = path.read_bytes()
    texts: list[str] = []
    labels: list[str] = []
    groups: list[str] = []
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, label = str(row["text"]), str(row["label"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"line {n}: expected a JSON object with 'text' and 'label' ({exc})", file=str(path)
            ) from None
        source = str(row.get("source") or "")
        texts.append(text)
        labels.append(label)
        # Rows from one template form one group; a hand-written row is its own group.
        groups.append(source if source.startswith("template:") else f"row:{n}")
    if len(set(labels)) < 2:
        raise ConfigError("need at least two distinct labels to train a classifier", file=str(path))
    return LabeledSet(texts, labels, groups, hashlib.sha256(raw).hexdigest())


def split_holdout(
    data: LabeledSet, fraction: float = 0.2, *, salt: str = "modelyard-holdout-1"
) -> tuple[LabeledSet, LabeledSet]:
    """Hold out whole groups by hashing their names: fixed, order-independent, no leakage."""
    test_idx: list[int] = []
    train_idx: list[int] = []
    for i, g in enumerate(data.groups):
        h = int(hashlib.sha256(f"{salt}|{g}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test_idx if h < fraction else train_idx).append(i)
    return data.subset(train_idx), data.subset(test_idx)


def _fit(choice: HeadChoice, x: Vectors, y: IntArray, seed: int) -> LinearHead | MlpHead:
    """Fit one candidate. Convergence warnings are silenced on purpose: every candidate is
    judged by its cross-validated score, so an early-stopped fit is kept only if it scores."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if choice.kind == "linear":
            lr = LogisticRegression(C=choice.c, max_iter=3000)
            lr.fit(x, y)
            return LinearHead(np.asarray(lr.coef_, dtype=np.float32), np.asarray(lr.intercept_, dtype=np.float32))
        mlp = MLPClassifier(hidden_layer_sizes=(choice.hidden,), alpha=choice.alpha, max_iter=300, random_state=seed)
        mlp.fit(x, y)
    weights = [np.asarray(w, dtype=np.float32) for w in mlp.coefs_]
    biases = [np.asarray(b, dtype=np.float32) for b in mlp.intercepts_]
    return MlpHead(weights, biases)


def evaluate(probs: npt.NDArray[np.float32], y: IntArray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix (rows = truth)."""
    k = len(labels)
    pred = probs.argmax(axis=1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per: dict[str, dict[str, float]] = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = float(cm[i, i])
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int(cm[i, :].sum()),
        }
        f1s.append(f1)
    conf = probs.max(axis=1)
    floors = {}
    for floor in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        kept = conf >= floor
        floors[f"{floor:.1f}"] = {
            "coverage": round(float(kept.mean()), 4),
            "accuracy_kept": round(float((pred[kept] == y[kept]).mean()) if kept.any() else 0.0, 4),
        }
    return {
        "n": len(y),
        "accuracy": round(float((pred == y).mean()), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "per_label": per,
        "confusion": cm.tolist(),
        "confidence_floors": floors,
    }


def _group_folds(groups: list[str], k: int, seed: int) -> list[IntArray]:
    names = sorted(set(groups))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    fold_of = {names[j]: i % k for i, j in enumerate(order)}
    idx = np.array([fold_of[g] for g in groups], dtype=np.int64)
    return [np.flatnonzero(idx == f).astype(np.int64) for f in range(k)]


@dataclass
class TrainResult:
    artefact: ClassifierArtefact
    cv: dict[str, float] = field(default_factory=dict)  # candidate label → mean CV macro-F1
    chosen: str = ""


def train_router(
    train: LabeledSet,
    test: LabeledSet | None,
    encoder: Encoder,
    *,
    candidates: Sequence[HeadChoice] = CANDIDATES,
    folds: int = 5,
    seed: int = 0,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Select a head by grouped CV on ``train``, refit it, and score it on ``test``."""
    say = progress or (lambda _msg: None)
    labels = sorted(set(train.labels))
    index = {name: i for i, name in enumerate(labels)}
    if test is not None and (unknown := sorted(set(test.labels) - set(labels))):
        raise ConfigError(f"held-out labels never seen in training: {unknown}")
    embed = cache.encode if cache is not None else (lambda enc, texts: enc.encode(texts))
    say(f"embedding {len(train)} training texts")
    x = embed(encoder, train.texts)
    y = np.array([index[s] for s in train.labels], dtype=np.int64)

    cv: dict[str, float] = {}
    fold_idx = _group_folds(train.groups, folds, seed) if len(candidates) > 1 else []
    for choice in candidates if len(candidates) > 1 else []:
        scores = []
        for f, held in enumerate(fold_idx):
            mask = np.ones(len(y), dtype=bool)
            mask[held] = False
            say(f"cv {choice.label()} fold {f + 1}/{folds}")
            head = _fit(choice, x[mask], y[mask], seed)
            scores.append(evaluate(head.predict_proba(x[held]), y[held], labels)["macro_f1"])
        cv[choice.label()] = round(float(np.mean(scores)), 4)
    best = max(candidates, key=lambda c: cv.get(c.label(), 0.0)) if cv else candidates[0]
    say(f"fitting {best.label()} on all {len(train)} rows")
    head = _fit(best, x, y, seed)

    metrics: dict[str, Any] = {
        "head": best.label(),
        "cv_macro_f1": cv,
        "train": {
            k: v for k, v in evaluate(head.predict_proba(x), y, labels).items() if k in ("n", "accuracy", "macro_f1")
        },
    }
    dataset: dict[str, Any] = {"train_sha256": train.sha256, "n_train": len(train)}
    if test is not None and len(test):
        say(f"embedding {len(test)} held-out texts")
        xt = embed(encoder, test.texts)
        yt = np.array([index[s] for s in test.labels], dtype=np.int64)
        metrics["test"] = evaluate(head.predict_proba(xt), yt, labels)
        dataset.update({"test_sha256": test.sha256, "n_test": len(test)})
    artefact = ClassifierArtefact(
        labels=labels,
        encoder_id=encoder.model_id,
        head=head,
        metrics=metrics,
        dataset=dataset,
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    return TrainResult(artefact, cv, best.label())
