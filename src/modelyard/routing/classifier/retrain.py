"""``modelyard train --from-logs``: retrain the classifier router on labelled records.

The logs' labelled rows are split into train and held-out (whole rows,
salted hash, so the split is stable); the new head is trained on the train
part, and the live artefact and the new one are both scored (macro-F1) on
the same held-out rows. The new artefact replaces the live one only when it
is at least as good, unless forced. A drift check compares recent traffic
with the live artefact's training set when that set is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelyard.encoders.base import Encoder
from modelyard.errors import ConfigError
from modelyard.routing.classifier.artefact import ClassifierArtefact
from modelyard.routing.classifier.train import (
    CANDIDATES,
    HeadChoice,
    LabeledSet,
    TrainResult,
    split_holdout,
    train_router,
)
from modelyard.telemetry.drift import Drift, drift
from modelyard.telemetry.record import Record
from modelyard.telemetry.relabel import Relabelled, label_records, prompt_text

__all__ = ["Retrained", "macro_f1", "retrain_from_records"]


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    """Macro-F1 over the labels present in ``truth`` (a label a model cannot predict scores 0)."""
    scores = []
    for label in sorted(set(truth)):
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == label and t != label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores)) if scores else 0.0


@dataclass
class Retrained:
    labelled: Relabelled
    result: TrainResult
    new_f1: float
    old_f1: float | None
    n_test: int
    written: Path | None
    refused: bool
    drift: Drift | None


def _predict(artefact: ClassifierArtefact, encoder: Encoder, texts: list[str]) -> list[str]:
    artefact.check_encoder(encoder.model_id)
    probs = artefact.predict_proba(encoder.encode(texts))
    return [artefact.labels[i] for i in probs.argmax(axis=1)]


def retrain_from_records(
    records: list[Record],
    encoder: Encoder,
    out: Path,
    *,
    live: Path | None = None,
    force: bool = False,
    holdout: float = 0.25,
    baseline: LabeledSet | None = None,
    candidates: Sequence[HeadChoice] = CANDIDATES,
) -> Retrained:
    labelled = label_records(records)
    rows = labelled.rows
    if len({r["label"] for r in rows}) < 2:
        raise ConfigError(
            f"{len(rows)} labelled records with fewer than two distinct labels: nothing to train "
            f"(skipped: {dict(labelled.skipped)})"
        )
    data = LabeledSet([r["text"] for r in rows], [r["label"] for r in rows], [r["source"] for r in rows])
    train, test = split_holdout(data, holdout, salt="modelyard-logs-1")
    if not len(test) or len(set(train.labels)) < 2:
        raise ConfigError(f"too few labelled records ({len(rows)}) for a held-out comparison")
    result = train_router(train, None, encoder, candidates=candidates)
    new_f1 = macro_f1(test.labels, _predict(result.artefact, encoder, test.texts))
    old_f1, old = None, None
    if live is not None and live.exists():
        old = ClassifierArtefact.load(live)
        old_f1 = macro_f1(test.labels, _predict(old, encoder, test.texts))
    result.artefact.metrics["logs_holdout"] = {"n": len(test), "macro_f1": round(new_f1, 4), "old": old_f1}
    result.artefact.dataset.update({"source": "telemetry records", "n_labelled": len(rows)})
    refused = old_f1 is not None and new_f1 < old_f1 and not force
    target = live if live is not None else out
    written = None if refused else result.artefact.save(target)
    check = None
    if baseline is not None:  # recent traffic against the set the live router was trained on
        texts = [t for r in records if (t := prompt_text(r))]
        families = [r.family for r in records if r.family]
        check = drift(baseline.texts, baseline.labels, texts, families, encoder)
    return Retrained(labelled, result, new_f1, old_f1, len(test), written, refused, check)
