"""Has traffic drifted from what the classifier was trained on?

Two checks, each with a warning threshold: the label (family) mix of recent
traffic against the training labels, as total-variation distance (0 = same
mix, 1 = disjoint); and the cosine distance between the mean embedding of
recent prompts and of the training texts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from modelyard.encoders.base import Encoder

__all__ = ["Drift", "drift"]


@dataclass
class Drift:
    mix_distance: float
    centroid_distance: float | None
    train_mix: dict[str, float]
    recent_mix: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def _mix(labels: Sequence[str]) -> dict[str, float]:
    counts = Counter(labels)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in sorted(counts.items())}


def drift(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    recent_texts: Sequence[str],
    recent_labels: Sequence[str],
    encoder: Encoder | None,
    *,
    mix_warn: float = 0.2,
    centroid_warn: float = 0.1,
) -> Drift:
    a, b = _mix(train_labels), _mix(recent_labels)
    tvd = 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in {*a, *b})
    centroid = None
    if encoder is not None and train_texts and recent_texts:
        ca = encoder.encode(list(train_texts)).mean(axis=0)
        cb = encoder.encode(list(recent_texts)).mean(axis=0)
        centroid = float(1.0 - np.dot(ca, cb) / (np.linalg.norm(ca) * np.linalg.norm(cb) + 1e-12))
    out = Drift(round(tvd, 4), None if centroid is None else round(centroid, 4), a, b)
    if tvd > mix_warn:
        out.warnings.append(f"family mix moved: total-variation distance {tvd:.2f} > {mix_warn:.2f}")
    if centroid is not None and centroid > centroid_warn:
        out.warnings.append(
            f"prompt embeddings moved: centroid cosine distance {centroid:.3f} > {centroid_warn:.3f}"
        )
    return out
