"""Train the strong/weak score heads on MMLU-train and pick one by validation only.

Split: every MMLU prompt is assigned train/val/test (60/20/20) by hashing its
text (:func:`hash_split`), so the split is fixed without storing indices and
duplicates never straddle it. Selection uses two validation views, both
disjoint from test: *in-domain* (fit on train, score val) and *unseen-subject*
(5 subject folds: fit on train prompts of other subjects, score the fold's val
prompts; one APGR over the pooled out-of-fold scores). The criterion is their
mean, which rewards heads that generalise to topics they were not trained on -
the situation on GSM8K and in production.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.encoders.base import Encoder
from modelyard.eval.datasets import GSM8K_STRONG, GSM8K_WEAK, OutcomeDataset, hash_split
from modelyard.eval.embed_cache import cached_encode
from modelyard.eval.metrics import apgr, two_model_curve
from modelyard.routing.threshold_heads import Head, fit_head, score

__all__ = [
    "CANDIDATES",
    "MAX_LENGTH",
    "SPLIT_FRACTIONS",
    "SPLIT_SALT",
    "Candidate",
    "embed",
    "mmlu_split",
    "select_and_train",
]

SPLIT_SALT = "modelyard-mmlu-split-1"
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
SPLIT_NAMES = ("train", "val", "test")
MAX_LENGTH = 256
N_FOLDS = 5
TARGETS = ("gain", "weak_wrong")
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Tick = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    kind: str
    params: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def label(self) -> str:
        return self.kind + "(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"


def _grid(kind: str, **axes: list[Any]) -> list[Candidate]:
    keys = sorted(axes)
    return [
        Candidate(kind, tuple(zip(keys, vals, strict=True)))
        for vals in itertools.product(*(axes[k] for k in keys))
    ]


#: The hyper-parameter grid searched on validation (targets are tried for each).
CANDIDATES: list[Candidate] = (
    _grid("logreg", C=[0.1, 1.0, 10.0])
    + _grid("knn", k=[25, 100], temperature=[0.02, 0.05], prior_weight=[1.0])
    + _grid("mlp", hidden=[64], alpha=[1e-3, 1e-1])
)


def mmlu_split(dataset: OutcomeDataset) -> dict[str, IntArray]:
    """Row indices of the fixed train/val/test split."""
    which = hash_split(dataset.prompts, SPLIT_FRACTIONS, salt=SPLIT_SALT)
    return {name: np.flatnonzero(which == i) for i, name in enumerate(SPLIT_NAMES)}


def subject_folds(groups: tuple[str, ...]) -> IntArray:
    """Fold (0..4) of each row, by hashing its subject: whole subjects stay together."""
    return np.array(
        [int(hashlib.sha256(g.encode()).hexdigest(), 16) % N_FOLDS for g in groups], dtype=np.int64
    )


def embed(
    encoder: Encoder,
    dataset: OutcomeDataset,
    *,
    max_length: int = MAX_LENGTH,
    progress: Callable[[int, int], None] | None = None,
) -> FloatArray:
    """Cached embeddings of ``dataset.prompts``."""
    vecs = cached_encode(encoder, dataset.prompts, tag=f"max_length={max_length}", progress=progress)
    return vecs.astype(np.float64)


def _apgr(s: FloatArray, qs: FloatArray, qw: FloatArray) -> float:
    return apgr(two_model_curve(s, qs, qw))


def _views(head: Head, x: FloatArray) -> dict[str, FloatArray]:
    return {t: score(_retarget(head, t), x) for t in TARGETS}


def _retarget(head: Head, target: str) -> Head:
    head.params["target"] = target
    return head


def validate(
    x: FloatArray,
    dataset: OutcomeDataset,
    split: dict[str, IntArray],
    *,
    seed: int = 0,
    tick: Tick | None = None,
) -> list[dict[str, Any]]:
    """Validation APGR (in-domain and unseen-subject) of every candidate x target."""
    qs = dataset.scores[:, dataset.column(GSM8K_STRONG)]
    qw = dataset.scores[:, dataset.column(GSM8K_WEAK)]
    folds = subject_folds(dataset.groups)
    tr, va = split["train"], split["val"]
    rows: list[dict[str, Any]] = []
    for cand in CANDIDATES:
        params = cand.as_dict()
        head = fit_head(cand.kind, x[tr], qs[tr], qw[tr], params, seed)
        in_dom = {t: _apgr(s, qs[va], qw[va]) for t, s in _views(head, x[va]).items()}
        # out-of-fold scores: each val prompt scored by a head that never saw its subject;
        # pooled into one APGR (per-fold APGRs explode where a fold's strong-weak gap is ~0)
        oof = {t: np.zeros(len(va)) for t in TARGETS}
        for f in range(N_FOLDS):
            tr_f, in_f = tr[folds[tr] != f], folds[va] == f
            head_f = fit_head(cand.kind, x[tr_f], qs[tr_f], qw[tr_f], params, seed)
            for t, s in _views(head_f, x[va[in_f]]).items():
                oof[t][in_f] = s
        for t in TARGETS:
            val_unseen = _apgr(oof[t], qs[va], qw[va])
            rows.append(
                {
                    "kind": cand.kind,
                    "params": params | {"target": t},
                    "label": f"{cand.label()}[{t}]",
                    "val_apgr": in_dom[t],
                    "val_unseen_subject_apgr": val_unseen,
                    "criterion": 0.5 * (in_dom[t] + val_unseen),
                }
            )
        if tick:
            tick(cand.label())
    return rows


def select_and_train(
    x: FloatArray,
    dataset: OutcomeDataset,
    *,
    encoder_id: str,
    seed: int = 0,
    tick: Tick | None = None,
) -> tuple[dict[str, Head], list[dict[str, Any]], str]:
    """Best head per kind (refit on train), all validation rows, and the overall pick."""
    split = mmlu_split(dataset)
    rows = validate(x, dataset, split, seed=seed, tick=tick)
    qs = dataset.scores[:, dataset.column(GSM8K_STRONG)]
    qw = dataset.scores[:, dataset.column(GSM8K_WEAK)]
    tr, va = split["train"], split["val"]
    heads: dict[str, Head] = {}
    best_kind, best_val = "", -np.inf
    for kind in dict.fromkeys(c.kind for c in CANDIDATES):
        row = max((r for r in rows if r["kind"] == kind), key=lambda r: r["criterion"])
        row["selected_for_kind"] = True
        head = fit_head(kind, x[tr], qs[tr], qw[tr], row["params"], seed)
        cal = score(head, x[va])
        head.params["calibration_quantiles"] = np.quantile(cal, np.linspace(0, 1, 101)).round(6).tolist()
        head.params["validation"] = {k: row[k] for k in ("val_apgr", "val_unseen_subject_apgr", "criterion")}
        heads[kind] = head
        if row["criterion"] > best_val:
            best_kind, best_val = kind, row["criterion"]
    _ = encoder_id
    return heads, rows, best_kind


def artefact_meta(head: Head, dataset: OutcomeDataset, *, encoder_id: str, seed: int) -> dict[str, Any]:
    """The JSON half of a versioned threshold-router artefact."""
    split = mmlu_split(dataset)
    train_ids = sorted(dataset.ids[i] for i in split["train"])
    params = dict(head.params)
    quantiles = params.pop("calibration_quantiles")
    validation = params.pop("validation")
    head.params = params
    return {
        "version": f"mmlu-minilm-{head.kind}-v1",
        "encoder": {"model_id": encoder_id, "max_length": MAX_LENGTH},
        "score": "expected gain p_strong - p_weak"
        if params.get("target") == "gain"
        else "P(weak model wrong)",
        "models": {"strong": GSM8K_STRONG, "weak": GSM8K_WEAK},
        "training": {
            "dataset": "RouteLLM MMLU outcomes, decontaminated (data/routellm-eval)",
            "split": {"salt": SPLIT_SALT, "fractions": list(SPLIT_FRACTIONS), "used": "train"},
            "n_train": len(train_ids),
            "train_ids_sha256": hashlib.sha256("\n".join(train_ids).encode()).hexdigest(),
            "seed": seed,
        },
        "validation": validation,
        "calibration": {"source": "MMLU val split", "quantiles": quantiles},
    }


def default_out_dir() -> Path:
    from modelyard.routing.threshold import BUILTIN_DIR

    return BUILTIN_DIR


def train_all(
    out_dir: Path,
    *,
    encoder: Encoder,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Embed MMLU, validate the grid, save the best head per kind, return the selection report."""
    import json

    from modelyard.eval.datasets import load_routellm_mmlu
    from modelyard.routing.threshold import ThresholdArtefact

    dataset = load_routellm_mmlu()
    x = embed(encoder, dataset, progress=progress)
    heads, rows, best = select_and_train(x, dataset, encoder_id=encoder.model_id, seed=seed, tick=tick)
    saved: dict[str, str] = {}
    for kind, head in heads.items():
        meta = artefact_meta(head, dataset, encoder_id=encoder.model_id, seed=seed)
        directory = out_dir / f"mmlu-minilm-{kind}"
        ThresholdArtefact(meta, head).save(directory)
        saved[kind] = str(directory)
    split = mmlu_split(dataset)
    report = {
        "selected": f"mmlu-minilm-{best}",
        "criterion": "mean of in-domain val APGR and unseen-subject val APGR (5 subject folds)",
        "split_sizes": {k: len(v) for k, v in split.items()},
        "artefacts": saved,
        "candidates": rows,
    }
    (out_dir / "selection.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
