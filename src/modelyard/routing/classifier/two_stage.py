"""Train the fast (static-encoder) head and choose its ``fast_confidence`` on training data only.

    python -m modelyard.routing.classifier.two_stage \\
        --data data/family-queries/train.jsonl --test data/family-queries/test.jsonl \\
        --out src/modelyard/routing/classifier/default_static

The two-stage router trusts the fast head when its top probability reaches
``fast_confidence`` and otherwise runs the MiniLM head. The threshold is picked by
grouped k-fold cross-validation on the training file: in each fold both heads are
fitted on the other folds and predict the held fold, and for every candidate
threshold we record the share the fast stage decides and the accuracy of the
combined decisions. The chosen threshold is the lowest one (most traffic on the
fast path) whose CV accuracy is within ``tolerance`` of MiniLM alone. The held-out
file is scored once, afterwards, and never influences the choice.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.encoders.base import Encoder
from modelyard.routing.classifier.train import (
    CANDIDATES,
    HeadChoice,
    LabeledSet,
    _fit,
    _group_folds,
    load_labeled,
    train_router,
)
from modelyard.routing.embedding_cache import EmbeddingCache

__all__ = ["FAST_CANDIDATES", "THRESHOLDS", "choose_fast_confidence"]

#: Heads tried for the static vectors: a bag of token vectors wants weaker regularisation.
FAST_CANDIDATES: tuple[HeadChoice, ...] = (
    HeadChoice("linear", c=16.0),
    HeadChoice("linear", c=64.0),
    HeadChoice("linear", c=256.0),
    HeadChoice("mlp", hidden=256, alpha=1e-2),
)
THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 … 0.95


def choose_fast_confidence(
    train: LabeledSet,
    fast: tuple[Encoder, HeadChoice],
    full: tuple[Encoder, HeadChoice],
    *,
    folds: int = 5,
    seed: int = 0,
    tolerance: float = 0.005,
    thresholds: tuple[float, ...] = THRESHOLDS,
    cache: EmbeddingCache | None = None,
) -> dict[str, Any]:
    """Grouped-CV table of (threshold → fast share, combined accuracy) and the chosen threshold."""
    labels = sorted(set(train.labels))
    y = np.array([labels.index(s) for s in train.labels], dtype=np.int64)
    embed = cache.encode if cache is not None else (lambda enc, texts: enc.encode(texts))
    xs = [embed(enc, train.texts) for enc, _ in (fast, full)]
    fast_probs = np.zeros((len(y), len(labels)), dtype=np.float32)
    full_probs = np.zeros_like(fast_probs)
    for held in _group_folds(train.groups, folds, seed):
        mask = np.ones(len(y), dtype=bool)
        mask[held] = False
        for x, (_, choice), out in zip(xs, (fast, full), (fast_probs, full_probs), strict=True):
            out[held] = _fit(choice, x[mask], y[mask], seed).predict_proba(x[held])
    fast_ok = fast_probs.argmax(axis=1) == y
    full_ok = full_probs.argmax(axis=1) == y
    conf = fast_probs.max(axis=1)
    table = {}
    for t in thresholds:
        use_fast = conf >= t
        table[f"{t:.2f}"] = {
            "fast_share": round(float(use_fast.mean()), 4),
            "accuracy": round(float(np.where(use_fast, fast_ok, full_ok).mean()), 4),
        }
    full_acc = float(full_ok.mean())
    good = [t for t in thresholds if table[f"{t:.2f}"]["accuracy"] >= full_acc - tolerance]
    chosen = min(good) if good else max(thresholds)
    return {
        "method": f"grouped {folds}-fold CV on the training file, tolerance {tolerance:g}",
        "fast_only_accuracy": round(float(fast_ok.mean()), 4),
        "full_only_accuracy": round(full_acc, 4),
        "thresholds": table,
        "chosen": chosen,
    }


def _choice(label: str) -> HeadChoice:
    for c in (*CANDIDATES, *FAST_CANDIDATES):
        if c.label() == label:
            return c
    raise ValueError(f"unknown head {label!r}")


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    from modelyard.encoders import default_encoder
    from modelyard.encoders.static import default_static_encoder
    from modelyard.routing.classifier.artefact import DEFAULT_DIR, ClassifierArtefact

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--full", default="default", help="the MiniLM artefact the fast stage sits in front of")
    parser.add_argument("--tolerance", type=float, default=0.005, help="CV accuracy the fast stage may cost")
    args = parser.parse_args(argv)
    console = Console()
    cache = EmbeddingCache()
    train = load_labeled(args.data)
    test = load_labeled(args.test) if args.test else None
    static = default_static_encoder()
    result = train_router(train, test, static, candidates=FAST_CANDIDATES, cache=cache, progress=console.log)
    full_art = ClassifierArtefact.load(DEFAULT_DIR if args.full == "default" else args.full)
    console.log("choosing fast_confidence by cross-validation")
    two = choose_fast_confidence(
        train,
        (static, _choice(result.chosen)),
        (default_encoder(), _choice(str(full_art.metrics["head"]))),
        tolerance=args.tolerance,
        cache=cache,
    )
    result.artefact.metrics["two_stage_cv"] = two
    result.artefact.save(args.out)
    test_acc = result.artefact.metrics.get("test", {}).get("accuracy")
    console.print(f"fast head {result.chosen}: CV macro-F1 {result.cv}, held-out accuracy {test_acc}")
    for t, row in two["thresholds"].items():
        console.print(f"  fast_confidence {t}: fast share {row['fast_share']:.1%}, CV accuracy {row['accuracy']:.1%}")
    console.print(
        f"MiniLM alone (CV): {two['full_only_accuracy']:.1%}; chosen fast_confidence {two['chosen']}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
