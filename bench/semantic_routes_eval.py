"""How embedding routes trade coverage for precision: max vs top-k mean, by threshold.

    .venv/bin/python bench/semantic_routes_eval.py [--per-route 20] [--cache-dir DIR]

Routes are the eight families, each with ``--per-route`` hand-written utterances
from data/family-queries/train.jsonl; they are scored on test.jsonl (held-out
templates and hand-written rows). "matched" is the share of queries that clear a
route's threshold (the rest fall through to the next router); "precision" is
the share of matched queries sent to the right family.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rich.console import Console
from rich.table import Table

from modelyard.encoders import default_encoder
from modelyard.routing.embedding_cache import EmbeddingCache
from modelyard.routing.semantic import Route, SemanticRoutes

DATA = Path(__file__).resolve().parents[1] / "data" / "family-queries"


def main(per_route: int, cache_dir: Path | None) -> None:
    train = [json.loads(x) for x in (DATA / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    test = [json.loads(x) for x in (DATA / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    by_family: dict[str, list[str]] = {}
    for r in train:
        if r["source"] == "handwritten":
            by_family.setdefault(r["label"], []).append(r["text"])
    cache = EmbeddingCache(cache_dir)
    encoder = default_encoder()
    vectors = cache.encode(encoder, [r["text"] for r in test])
    table = Table(title=f"embedding routes on {len(test)} held-out queries ({per_route} utterances per route)")
    for col in ("scoring", "threshold", "matched", "precision", "wrong routes"):
        table.add_column(col, justify="left" if col == "scoring" else "right")
    for top_k in (1, 3, 5):
        for threshold in (0.4, 0.5, 0.6, 0.7):
            routes = [
                Route(name=f, utterances=random.Random(f).sample(sorted(u), per_route))
                for f, u in sorted(by_family.items())
            ]
            sr = SemanticRoutes(routes, encoder, default_threshold=threshold, top_k=top_k, cache=cache)
            matched = right = 0
            for r, v in zip(test, vectors, strict=True):
                m = sr.match_vector(v)
                if m.route is not None:
                    matched += 1
                    right += m.route.name == r["label"]
            scoring = "max" if top_k == 1 else f"mean of top {top_k}"
            table.add_row(
                scoring,
                f"{threshold:.1f}",
                f"{matched / len(test):.1%}",
                f"{right / matched:.1%}" if matched else "-",
                str(matched - right),
            )
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-route", type=int, default=20)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    main(args.per_route, args.cache_dir)
