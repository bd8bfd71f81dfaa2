"""The outcome sets routers are trained and tested on, with fixed splits and cached embeddings.

Tasks (``TASKS``): ``arc_challenge``, ``mbpp``, ``winogrande`` (RouterBench, 11 models;
`modelyard.eval.routerbench`) and ``mmlu``, ``gsm8k`` (RouteLLM, GPT-4 vs Mixtral).
Splits: RouterBench's given train/test files (Winogrande: a 70/30 hash split);
MMLU: the project's 60/20/20 hash split (`modelyard.eval.train.mmlu_split`), of which
a fixed hash sample of ``MMLU_TRAIN_N`` train and ``MMLU_TEST_N`` test prompts is used
here (embedding all 14k prompts takes ~40 minutes on this shared machine); GSM8K has
no train split in the RouteLLM data, so a 50/50 hash split (salt
``modelyard-gsm8k-split-1``) gives one.

Embeddings: MiniLM (max 256 tokens) of the ``tail`` text view
(`modelyard.routing.text_view`), cached under ``.cache/embeddings`` by text hash, so
every trainer, the cross-task matrix and ``modelyard eval`` embed each prompt once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt

from modelyard.encoders.base import Encoder
from modelyard.eval.datasets import OutcomeDataset, hash_split, load_dataset
from modelyard.eval.embed_cache import cached_encode
from modelyard.eval.routerbench import load_routerbench
from modelyard.routing.text_view import view_text

__all__ = [
    "MAX_LENGTH",
    "MMLU_TEST_N",
    "MMLU_TRAIN_N",
    "TASKS",
    "VIEW",
    "embed",
    "embedding_tag",
    "encoder",
    "load_task",
]

TASKS = ("arc_challenge", "mbpp", "winogrande", "mmlu", "gsm8k")
ROUTERBENCH = ("arc_challenge", "mbpp", "winogrande")
MAX_LENGTH = 256
VIEW = ("tail", 300)
MMLU_TRAIN_N = 2000
MMLU_TEST_N = 1500
GSM8K_SALT = "modelyard-gsm8k-split-1"
FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]


def _sample(dataset: OutcomeDataset, rows: npt.NDArray[np.int64], n: int, salt: str) -> npt.NDArray[np.int64]:
    """A fixed subset of ``rows``: the ``n`` with the smallest text hash (stable across machines)."""
    import hashlib

    keys = [hashlib.sha256((salt + dataset.prompts[i]).encode()).hexdigest() for i in rows]
    order = np.argsort(np.array(keys), kind="stable")
    return np.sort(rows[order[:n]])


@cache
def load_task(task: str, split: str) -> OutcomeDataset:
    """``task`` in `TASKS`, ``split`` ``train`` or ``test``; named ``<task>-<split>``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, not {split!r}")
    if task in ROUTERBENCH:
        return load_routerbench(task, split)
    if task == "mmlu":
        from modelyard.eval.train import mmlu_split

        full = load_dataset("mmlu")
        rows = mmlu_split(full)[split]
        n = MMLU_TRAIN_N if split == "train" else MMLU_TEST_N
        return full.subset(_sample(full, rows, n, "modelyard-mmlu-sample-1"), name=f"mmlu-{split}")
    if task == "gsm8k":
        full = load_dataset("gsm8k")
        which = hash_split(full.prompts, (0.5, 0.5), salt=GSM8K_SALT)
        return full.subset(np.flatnonzero(which == (0 if split == "train" else 1)), name=f"gsm8k-{split}")
    raise ValueError(f"unknown task {task!r}; known: {TASKS}")


def embedding_tag() -> str:
    from modelyard.eval.frontier_runner import embedding_tag as tag

    return tag(MAX_LENGTH, VIEW[0], VIEW[1])


@cache
def encoder() -> Encoder:
    from modelyard.encoders import MiniLMEncoder

    return MiniLMEncoder(max_length=MAX_LENGTH)


def embed(dataset: OutcomeDataset, *, enc: Encoder | None = None, progress: Progress | None = None) -> FloatArray:
    """Cached MiniLM vectors of the ``tail`` view of every prompt, shape ``(n, 384)``.

    Texts are encoded shortest first (less padding per batch); the cache is keyed by text.
    """
    texts = [view_text(p, VIEW[0], VIEW[1]) for p in dataset.prompts]
    by_length = sorted(set(texts), key=len)
    cached_encode(enc or encoder(), by_length, tag=embedding_tag(), progress=progress)
    return cached_encode(enc or encoder(), texts, tag=embedding_tag()).astype(np.float64)


if __name__ == "__main__":  # warm the cache: python -m modelyard.training.tasks
    import sys
    import time

    for name in sys.argv[1:] or TASKS:
        for part in ("train", "test"):
            t0 = time.time()
            ds = load_task(name, part)
            embed(ds)
            print(f"{ds.name}: {len(ds)} prompts embedded in {time.time() - t0:.0f}s", flush=True)
