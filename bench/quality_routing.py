"""N-model routing results: RouterBench test table, cross-task matrix, OOD signal choice.

    .venv/bin/python bench/quality_routing.py all        # everything below, ~15 min on 2 shared cores
    .venv/bin/python bench/quality_routing.py table      # README table + frontier plots
    .venv/bin/python bench/quality_routing.py cross      # train-on-one, test-on-another matrix
    .venv/bin/python bench/quality_routing.py ood        # AUROC of the OOD signals

Writes ``bench/results/quality_routing/``: ``frontier_<subset>.json/.png`` (the shipped
``routerbench-minilm`` router on each RouterBench test split), ``table.md``,
``cross_task.json/.md``, ``ood_signals.json``. Prompts are embedded once into
``.cache/embeddings`` (``python -m modelyard.training.tasks`` warms it). Run from the
repository root. Report on test splits only: no choice here looks at them.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "quality_routing"
ROUTER = "routerbench-minilm"
SUBSETS = ("arc_challenge", "mbpp", "winogrande")


def table(bootstrap: int) -> str:
    from modelyard.eval.frontier_report import frontier_markdown
    from modelyard.eval.frontier_runner import FrontierRequest, run_frontier

    parts = []
    for task in SUBSETS:
        report, data, paths = run_frontier(
            FrontierRequest(f"routerbench:{task}:test", [ROUTER], bootstrap=bootstrap), out_dir=OUT
        )
        best, cheap = report.get(report.best_single), report.get(report.cheapest)
        parts.append(
            f"**{task}** (test, n={report.n_prompts}; best single {report.best_single}, "
            f"cheapest {report.cheapest}; plot `{paths['png'].relative_to(OUT.parents[2])}`)\n"
        )
        parts.append(frontier_markdown(report, data.scale) + "\n")
        _ = best, cheap
    text = "\n".join(parts)
    (OUT / "table.md").write_text(text, encoding="utf-8")
    return text


def _fmt_ci(v: float, ci: list[float], sign: bool = False) -> str:
    f = "+.3f" if sign else ".3f"
    if any(math.isnan(c) for c in ci):
        return f"{v:{f}}"
    return f"{v:{f}} [{ci[0]:{f}}, {ci[1]:{f}}]"


def cross(bootstrap: int) -> str:
    from modelyard.training.cross_task import pair_matrix, quality_matrix

    pair = pair_matrix(bootstrap=bootstrap, log=print)
    nmodel = quality_matrix(bootstrap=bootstrap, log=print)
    (OUT / "cross_task.json").write_text(
        json.dumps({"pair": pair, "n_model": nmodel}, indent=2) + "\n", encoding="utf-8"
    )
    tests = list(dict.fromkeys(c["test"] for c in pair))
    trains = list(dict.fromkeys(c["train"] for c in pair))
    lines = [
        "Strong/weak head (GPT-4 vs Mixtral), APGR [95% CI]; random = 0.500. "
        "**bold** = interval above 0.5 (better than random).",
        "",
        "| train ↓ / test → | " + " | ".join(tests) + " |",
        "|---|" + "---|" * len(tests),
    ]
    for tr in trains:
        row = []
        for te in tests:
            c = next(c for c in pair if c["train"] == tr and c["test"] == te)
            s = _fmt_ci(c["apgr"], c["ci95"])
            row.append(f"**{s}**" if c["better_than_random"] else s)
        lines.append(f"| {tr} | " + " | ".join(row) + " |")
    tests_n = list(dict.fromkeys(c["test"] for c in nmodel))
    trains_n = list(dict.fromkeys(c["train"] for c in nmodel))
    lines += [
        "",
        "N-model router (11 models), AIQ − random model mix [95% CI, paired bootstrap] (AIQ; head chosen "
        "by validation). **bold** = interval above 0 (better than random).",
        "",
        "| train ↓ / test → | " + " | ".join(tests_n) + " |",
        "|---|" + "---|" * len(tests_n),
    ]
    for tr in trains_n:
        row = []
        for te in tests_n:
            c = next(c for c in nmodel if c["train"] == tr and c["test"] == te)
            gain = _fmt_ci(c["aiq_over_random"], c["aiq_over_random_ci95"], sign=True)
            s = f"{gain} ({c['aiq']:.3f}; {c['head'].split('(')[0]})"
            row.append(f"**{s}**" if c["better_than_random"] else s)
        lines.append(f"| {tr} | " + " | ".join(row) + " |")
    text = "\n".join(lines)
    (OUT / "cross_task.md").write_text(text + "\n", encoding="utf-8")
    return text


def ood() -> dict[str, Any]:
    """AUROC of each embedding signal: held-out in-distribution prompts vs each probe kind."""
    from modelyard.eval.datasets import hash_split
    from modelyard.routing.ood import count_words
    from modelyard.routing.text_view import view_text
    from modelyard.training.ood_probes import auroc, passes_length, probes, signals
    from modelyard.training.quality import VAL_SALT
    from modelyard.training.tasks import VIEW, embed, encoder, load_task

    enc = encoder()
    probe_texts = probes()
    probe_vecs = {k: enc.encode([view_text(t, *VIEW) for t in v]).astype(np.float64) for k, v in probe_texts.items()}
    out: dict[str, Any] = {}
    refs = [("n-model (RouterBench train)", SUBSETS), ("score heads (MMLU train sample)", ("mmlu",))]
    for name, tasks in [*refs, ("family classifier (data/family-queries)", ())]:
        ref, held, ref_texts, held_texts = [], [], [], []
        for t in tasks:
            ds = load_task(t, "train")
            x = embed(ds)
            which = hash_split(ds.prompts, (0.8, 0.2), salt=VAL_SALT)
            ref.append(x[which == 0])
            held.append(x[which == 1])
            ref_texts += [view_text(ds.prompts[i], *VIEW) for i in np.flatnonzero(which == 0)]
            held_texts += [view_text(ds.prompts[i], *VIEW) for i in np.flatnonzero(which == 1)]
        if not tasks:  # the default classifier's reference (helper-owned) and its held-out file
            ref, ref_texts, held, held_texts = _family_reference()
        r, h = np.concatenate(ref), np.concatenate(held)
        min_words = min(count_words(t) for t in ref_texts)
        max_words = int(np.ceil(1.5 * max(count_words(t) for t in ref_texts)))
        neg = signals(r, h) | {"known_words": _unknown(held_texts)}
        row: dict[str, Any] = {"min_words": min_words, "max_words": max_words, "held_out_n": len(h)}
        for kind, texts in probe_texts.items():
            keep = passes_length([view_text(t, *VIEW) for t in texts], min_words, max_words)
            row[kind] = {"n": len(texts), "caught_by_length": int((~keep).sum())}
            if keep.any():
                kept = [t for t, k in zip(texts, keep, strict=True) if k]
                pos = signals(r, probe_vecs[kind][keep]) | {"known_words": _unknown(kept)}
                row[kind] |= {s: round(auroc(neg[s], pos[s]), 4) for s in neg}
                # recall at the operating point: the threshold flagging 1% of held-out in-distribution prompts
                row[kind]["recall_at_1pct"] = {
                    s: round(float((pos[s] > np.quantile(neg[s], 0.99)).mean()), 3) for s in neg
                }
        all_pos = np.concatenate([probe_vecs[k] for k in probe_texts])
        pos_all = signals(r, all_pos) | {"known_words": _unknown([t for v in probe_texts.values() for t in v])}
        row["all_probes_auroc"] = {s: round(auroc(neg[s], pos_all[s]), 4) for s in neg}
        out[name] = row
        print(name, json.dumps(row, indent=1))
    (OUT / "ood_signals.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def _unknown(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """1 − known-word share (`modelyard.routing.ood.known_share`; texts without letters count as 1)."""
    from modelyard.routing.ood import known_share

    return np.array([1.0 - (s if (s := known_share(t)) is not None else 0.0) for t in texts])


def _family_reference() -> tuple[list[Any], list[str], list[Any], list[str]]:
    from modelyard.encoders import default_encoder
    from modelyard.routing.classifier.artefact import DEFAULT_DIR, OOD_FILE
    from modelyard.routing.classifier.train import load_labeled
    from modelyard.routing.embedding_cache import EmbeddingCache
    from modelyard.routing.ood import NearestNeighbourOOD

    root = Path(__file__).resolve().parents[1] / "data" / "family-queries"
    ref = NearestNeighbourOOD.load(DEFAULT_DIR / OOD_FILE).reference.astype(np.float64)
    train, test = load_labeled(root / "train.jsonl"), load_labeled(root / "test.jsonl")
    held = EmbeddingCache().encode(default_encoder(), test.texts).astype(np.float64)
    return [ref], list(train.texts), [held], list(test.texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("all", "table", "cross", "ood"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.what in ("all", "table"):
        print(table(args.bootstrap))
    if args.what in ("all", "ood"):
        ood()
    if args.what in ("all", "cross"):
        print(cross(args.bootstrap))


if __name__ == "__main__":
    main()
