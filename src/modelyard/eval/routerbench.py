"""RouterBench subsets (11 models; ARC-Challenge, MBPP, Winogrande) as `OutcomeDataset`s.

Source: the RouterBench data (Hu et al., arXiv 2403.12031, MIT) as split into
zero-shot train/test files by RouterDC (``datasets/routerbench_zs``); the files sit
in ``../shared/data/routerbench-subsets`` (or ``data/routerbench-subsets``, or the
directory in ``MODELYARD_ROUTERBENCH_DIR``). Per row: the prompt (a Python list
literal of one string), one 0/1 score per model, each model's answer text and the
measured call cost in USD.

* Rows where any model has no score are dropped (ARC: 8 of 1,039 train and 6 of
  445 test); the count is kept in ``DROPPED``.
* Winogrande ships a train file only. Its **test split is a fixed 30% hash split**
  of that file (salt ``modelyard-winogrande-split-1``); the other 70% is its train.
  ARC and MBPP use the given files.

Dataset specs understood by :func:`load_routerbench`: ``routerbench:<task>:<split>``
with task ``arc_challenge`` | ``mbpp`` | ``winogrande`` and split ``train`` | ``test``.
"""

from __future__ import annotations

import ast
import csv
import os
import sys
from pathlib import Path

import numpy as np

from modelyard.eval.datasets import OutcomeDataset, hash_split

__all__ = ["DROPPED", "MODELS", "TASKS", "data_dir", "load_routerbench", "parse_spec"]

TASKS = ("arc_challenge", "mbpp", "winogrande")
MODELS = (
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v2",
    "claude-v1",
    "claude-instant-v1",
    "meta/llama-2-70b-chat",
    "mistralai/mixtral-8x7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
    "meta/code-llama-instruct-34b-chat",
    "mistralai/mistral-7b-chat",
)
WINOGRANDE_SALT = "modelyard-winogrande-split-1"
WINOGRANDE_FRACTIONS = (0.7, 0.3)
_FILES = {"arc_challenge": "arc_challenge_{split}.csv", "mbpp": "mbpp_{split}.csv"}
#: rows dropped for a missing score, by (task, split)
DROPPED: dict[tuple[str, str], int] = {}


def data_dir() -> Path:
    """Where the CSVs are: ``$MODELYARD_ROUTERBENCH_DIR``, ``data/routerbench-subsets``, ``../shared/data/...``."""
    env = os.environ.get("MODELYARD_ROUTERBENCH_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path("data/routerbench-subsets"), Path("../shared/data/routerbench-subsets")]
    for path in candidates:
        if (path / "mbpp_test.csv").is_file():
            return path
    raise FileNotFoundError(
        "RouterBench subsets not found in " + ", ".join(map(str, candidates)) + "; set MODELYARD_ROUTERBENCH_DIR"
    )


def parse_spec(spec: str) -> tuple[str, str]:
    """``routerbench:mbpp:test`` → ``("mbpp", "test")``; ValueError naming the spec otherwise."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "routerbench" or parts[1] not in TASKS or parts[2] not in ("train", "test"):
        raise ValueError(f"dataset {spec!r}: expected routerbench:<{'|'.join(TASKS)}>:<train|test>")
    return parts[1], parts[2]


def _text(cell: str) -> str:
    """The prompt/response cells hold a Python list literal of strings; join its items."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return cell
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def _read(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_routerbench(task: str, split: str, directory: Path | None = None) -> OutcomeDataset:
    """One task's train or test split; name ``routerbench-<task>-<split>``; costs in USD per call."""
    if task not in TASKS or split not in ("train", "test"):
        raise ValueError(f"unknown RouterBench subset {task!r}/{split!r}; tasks {TASKS}, splits train/test")
    root = directory or data_dir()
    if task == "winogrande":
        rows = _read(root / "winograde_train.csv")
        which = hash_split([r["prompt"] for r in rows], WINOGRANDE_FRACTIONS, salt=WINOGRANDE_SALT)
        rows = [r for r, w in zip(rows, which, strict=True) if w == (0 if split == "train" else 1)]
    else:
        rows = _read(root / _FILES[task].format(split=split))
    complete = [all(r.get(m, "") != "" and r.get(f"{m}|total_cost", "") != "" for m in MODELS) for r in rows]
    DROPPED[(task, split)] = complete.count(False)
    rows = [r for r, ok in zip(rows, complete, strict=True) if ok]
    scores = np.array([[float(r[m]) for m in MODELS] for r in rows], dtype=np.float64)
    costs = np.array([[float(r[f"{m}|total_cost"]) for m in MODELS] for r in rows], dtype=np.float64)
    return OutcomeDataset(
        name=f"routerbench-{task}-{split}",
        ids=tuple(r["sample_id"] for r in rows),
        prompts=tuple(_text(r["prompt"]) for r in rows),
        models=MODELS,
        scores=scores,
        costs=costs,
        cost_unit="usd",
        groups=tuple(task for _ in rows),
        responses={m: tuple(_text(r.get(f"{m}|model_response", "")) for r in rows) for m in MODELS},
        score_range=(0.0, 1.0),
    )
