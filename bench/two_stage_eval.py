"""Static-only, MiniLM-only and two-stage classifier accuracy on held-out and acceptance data.

    .venv/bin/python bench/two_stage_eval.py [--sweep] [--save [FILE]]

The classifier alone, text only (no image restriction, no confidence floor): the
argmax label is compared with the row's label. "two-stage" uses the static head
when its top probability reaches ``fast_confidence`` (the value chosen by
cross-validation on the training file and stored in the shipped fast artefact),
else the MiniLM head. ``--sweep`` adds the other thresholds, for information only:
they were not chosen on these sets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from _results import RESULTS, Run
from modelyard.encoders import default_encoder
from modelyard.encoders.static import default_static_encoder
from modelyard.routing.classifier.artefact import DEFAULT_DIR, DEFAULT_STATIC_DIR, ClassifierArtefact
from modelyard.routing.classifier.head import FloatArray
from modelyard.routing.classifier.train import evaluate
from modelyard.routing.embedding_cache import EmbeddingCache

DATA = Path(__file__).resolve().parents[1] / "data" / "family-queries"


def main(sweep: bool, save: Path | None = None) -> None:
    run = Run("two_stage_eval", save, {"sweep": sweep, "save": save})
    saved: list[dict[str, object]] = []
    full, fast = ClassifierArtefact.load(DEFAULT_DIR), ClassifierArtefact.load(DEFAULT_STATIC_DIR)
    chosen = float(fast.metrics["two_stage_cv"]["chosen"])
    thresholds = sorted({chosen, *((0.5, 0.6, 0.7, 0.8, 0.9) if sweep else ())})
    cache = EmbeddingCache()
    table = Table(title=f"classifier alone, text only (fast_confidence chosen by CV: {chosen:.2f})")
    for col in ("set", "variant", "n", "accuracy", "macro-F1", "decided by static stage"):
        table.add_column(col, justify="left" if col in ("set", "variant") else "right")
    for name in ("test.jsonl", "acceptance.jsonl"):
        rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        texts = [str(r["text"]) for r in rows]
        y = np.array([full.labels.index(r["label"]) for r in rows], dtype=np.int64)
        p_full = full.predict_proba(cache.encode(default_encoder(), texts))
        p_fast = fast.predict_proba(default_static_encoder().encode(texts))
        variants: list[tuple[str, FloatArray, float | None]] = [
            ("static only", p_fast, None),
            ("MiniLM only", p_full, None),
        ]
        for t in thresholds:
            use = p_fast.max(axis=1) >= t
            mark = " (chosen)" if t == chosen else ""
            mixed = np.asarray(np.where(use[:, None], p_fast, p_full), dtype=np.float32)
            variants.append((f"two-stage @ {t:.2f}{mark}", mixed, float(use.mean())))
        for variant, probs, share in variants:
            m = evaluate(probs, y, full.labels)
            correct = int((probs.argmax(axis=1) == y).sum())
            saved.append(
                {"set": name.removesuffix(".jsonl"), "variant": variant, "n": int(m["n"]), "correct": correct}
                | {"accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"]), "static_share": share}
            )
            table.add_row(
                name.removesuffix(".jsonl"),
                variant,
                str(m["n"]),
                f"{m['accuracy']:.1%}",
                f"{m['macro_f1']:.3f}",
                "" if share is None else f"{share:.1%}",
            )
    Console().print(table)
    if (path := run.save(saved)) is not None:
        Console().print(f"saved {path}", highlight=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="also show thresholds that were not chosen")
    parser.add_argument(
        "--save", type=Path, nargs="?", const=RESULTS / "two_stage_eval.json", help="write the rows as JSON"
    )
    args = parser.parse_args()
    main(args.sweep, args.save)
