"""Build the out-of-distribution reference that ships with a classifier artefact.

    python -m modelyard.routing.classifier.ood_build \\
        --data data/family-queries/train.jsonl --held-out data/family-queries/test.jsonl \\
        --out src/modelyard/routing/classifier/default/ood.npz

The reference is the MiniLM vector of every training text; ``min_similarity`` is
the 1% quantile of the held-out texts' nearest-training-example similarity (held-out
rows come from templates and hand-written rows never seen in training, so they
stand for unseen in-distribution traffic) and ``min_words`` the shortest training
text. The classifier router reads ``ood.npz`` from its artefact directory when its
spec sets ``ood:``. See `modelyard.routing.ood` and ``docs/classifier.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modelyard.encoders.base import Encoder
from modelyard.routing.classifier.artefact import OOD_FILE
from modelyard.routing.classifier.train import load_labeled
from modelyard.routing.embedding_cache import EmbeddingCache
from modelyard.routing.ood import NearestNeighbourOOD

__all__ = ["OOD_FILE", "build_ood"]


def build_ood(
    data: str | Path,
    held_out: str | Path,
    encoder: Encoder,
    *,
    quantile: float = 0.01,
    cache: EmbeddingCache | None = None,
) -> NearestNeighbourOOD:
    """The reference over ``data``'s texts, thresholds measured on ``held_out`` (JSONL with ``text``)."""
    cache = cache if cache is not None else EmbeddingCache()
    train = load_labeled(data)
    test = load_labeled(held_out)
    return NearestNeighbourOOD.fit(
        cache.encode(encoder, train.texts),
        train.texts,
        cache.encode(encoder, test.texts),
        encoder_id=encoder.model_id,
        quantile=quantile,
        source=f"{Path(data).name} (sha256 {train.sha256[:12]}), held out {Path(held_out).name}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training JSONL (the reference)")
    parser.add_argument("--held-out", required=True, help="held-out JSONL (sets min_similarity)")
    parser.add_argument("--out", required=True, help="where to write ood.npz")
    parser.add_argument("--quantile", type=float, default=0.01)
    args = parser.parse_args(argv)
    from modelyard.encoders import default_encoder

    ood = build_ood(args.data, args.held_out, default_encoder(), quantile=args.quantile)
    ood.save(args.out)
    print(
        f"wrote {args.out}: {len(ood.reference)} reference vectors, min_similarity {ood.min_similarity:.2f}, "
        f"min_words {ood.min_words}; held-out flagged {ood.meta['held_out_flagged']:.2%}"
    )


if __name__ == "__main__":
    main()
