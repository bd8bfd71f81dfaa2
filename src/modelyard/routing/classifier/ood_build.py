"""Build the out-of-distribution reference that ships with a classifier artefact.

    python -m modelyard.routing.classifier.ood_build \\
        --data data/family-queries/train.jsonl --held-out data/family-queries/test.jsonl \\
        --out src/modelyard/routing/classifier/default/ood.npz

The reference lives in the space of the packaged static encoder (distilled from
MiniLM; microseconds a query, so the check never waits on MiniLM): the training
texts' static vectors reduced to ``k`` k-means centroids (256: a lookup is ~15 µs).
``min_similarity`` is the 1% quantile of the held-out texts' nearest-centroid
similarity, rounded down (held-out rows come from templates and hand-written rows
never seen in training, so they stand for unseen in-distribution traffic),
``min_words`` the shortest training text, and ``min_known_share`` the 0.5% quantile
(``--known-share-quantile``; 0 turns the test off) of the training texts' known-word
share (`modelyard.routing.ood.known_share`): keyboard mash ("qwerty uiop asdf")
embeds as close to real requests as their least typical 1%, but none of its words
are words. ``--encoder minilm`` builds the same over
MiniLM vectors instead. The classifier router reads ``ood.npz`` from its artefact
directory when its spec sets ``ood:``, and encodes queries with whichever encoder
the reference names. See `modelyard.routing.ood` and ``docs/classifier.md`` (the
measurement behind these choices).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import numpy as np

from modelyard.encoders.base import Encoder
from modelyard.routing.classifier.artefact import OOD_FILE
from modelyard.routing.classifier.train import load_labeled
from modelyard.routing.ood import KNOWN_SHARE_QUANTILE, NearestNeighbourOOD, count_words, min_known_share_of

__all__ = ["OOD_FILE", "build_ood"]


def build_ood(
    data: str | Path,
    held_out: str | Path,
    encoder: Encoder,
    *,
    k: int = 256,
    quantile: float = 0.01,
    seed: int = 0,
    known_share_quantile: float | None = KNOWN_SHARE_QUANTILE,
) -> NearestNeighbourOOD:
    """The reference over ``data``'s texts (``k`` centroids; 0 keeps every text), thresholds from ``held_out``.

    ``min_known_share`` is the ``known_share_quantile`` of ``data``'s texts' known-word share
    (None: no lexical test). Raises ``ValueError`` when a file has no rows or no text has letters.
    """
    train = load_labeled(data)
    test = load_labeled(held_out)
    vectors = encoder.encode(train.texts)
    if k:
        from sklearn.cluster import KMeans

        vectors = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(vectors).cluster_centers_.astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = (encoder.encode(test.texts) @ vectors.T).max(axis=1)
    floor = round(float(np.floor(np.quantile(sims, quantile) * 100)) / 100, 2)
    meta = {
        "unit": "cluster" if k else "example",
        "k": k,
        "source": f"{Path(data).name} (sha256 {train.sha256[:12]}), held out {Path(held_out).name}",
        "quantile": quantile,
        "held_out_n": len(test),
        "held_out_similarity_quantiles": {
            str(q): round(float(np.quantile(sims, q)), 4) for q in (0.005, 0.01, 0.02, 0.05, 0.5)
        },
        "held_out_flagged": round(float((sims < floor).mean()), 4),
    }
    min_words = min(count_words(t) for t in train.texts)
    min_known = None
    if known_share_quantile is not None:
        min_known = min_known_share_of(train.texts, known_share_quantile)
        meta["known_share_quantile"] = known_share_quantile
    return NearestNeighbourOOD(
        np.asarray(vectors, dtype=np.float32), encoder.model_id, floor, min_words, meta, min_known_share=min_known
    )


def _encoder(kind: Literal["static", "minilm"]) -> Encoder:
    if kind == "minilm":
        from modelyard.encoders import default_encoder

        return default_encoder()
    from modelyard.encoders.static import default_static_encoder

    return default_static_encoder()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training JSONL (the reference)")
    parser.add_argument("--held-out", required=True, help="held-out JSONL (sets min_similarity)")
    parser.add_argument("--out", required=True, help="where to write ood.npz")
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    parser.add_argument("--centroids", type=int, default=256, help="k-means centroids; 0 keeps every text")
    parser.add_argument("--quantile", type=float, default=0.01)
    parser.add_argument(
        "--known-share-quantile",
        type=float,
        default=KNOWN_SHARE_QUANTILE,
        help="quantile of the training texts' known-word share that sets min_known_share; 0: no lexical test",
    )
    args = parser.parse_args(argv)
    ood = build_ood(
        args.data,
        args.held_out,
        _encoder(args.encoder),
        k=args.centroids,
        quantile=args.quantile,
        known_share_quantile=args.known_share_quantile or None,
    )
    ood.save(args.out)
    print(
        f"wrote {args.out}: {len(ood.reference)} reference rows ({ood.unit}s), min_similarity "
        f"{ood.min_similarity:.2f}, min_words {ood.min_words}, min_known_share {ood.min_known_share}; "
        f"held-out flagged by similarity {ood.meta['held_out_flagged']:.2%}"
    )


if __name__ == "__main__":
    main()
