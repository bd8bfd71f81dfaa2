"""Loaders: the packaged RouteLLM files, decontamination, the generic JSONL round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelyard.eval.datasets import (
    GSM8K_STRONG,
    GSM8K_WEAK,
    OutcomeDataset,
    hash_split,
    load_dataset,
    load_jsonl,
    save_jsonl,
)


def test_routellm_files_load_and_drop_contaminated_prompts() -> None:
    gsm = load_dataset("gsm8k")
    assert len(gsm) == 1319 - 12
    assert gsm.models == (GSM8K_STRONG, GSM8K_WEAK)
    assert set(gsm.responses) == {GSM8K_STRONG, GSM8K_WEAK}
    assert (gsm.costs[:, 0] > gsm.costs[:, 1] * 10).all()  # GPT-4 is much dearer per prompt
    mmlu = load_dataset("mmlu")
    assert len(mmlu) == 14042 - 5
    assert len(set(mmlu.groups)) == 57
    assert 0.80 < mmlu.scores[:, 0].mean() < 0.81 and 0.68 < mmlu.scores[:, 1].mean() < 0.69


def test_hash_split_is_stable_and_keeps_duplicates_together() -> None:
    texts = ["a", "b", "a", "c"] * 50
    first = hash_split(texts, (0.6, 0.2, 0.2))
    assert (first == hash_split(texts, (0.6, 0.2, 0.2))).all()
    assert first[0] == first[2]
    assert set(first.tolist()) <= {0, 1, 2}
    with pytest.raises(ValueError):
        hash_split(texts, (0.5, 0.2))


def test_jsonl_round_trip(tmp_path: Path) -> None:
    ds = OutcomeDataset(
        name="tiny",
        ids=("p1", "p2"),
        prompts=("2+2?", "capital of France?"),
        models=("small", "big", "huge"),
        scores=np.array([[1.0, 1.0, 1.0], [0.0, 0.5, 1.0]]),
        costs=np.array([[1.0, 3.0, 9.0], [1.0, 3.0, 9.0]]),
        cost_unit="units",
        groups=("math", "geo"),
        responses={"small": ("4", "Lyon")},
    )
    path = tmp_path / "tiny.jsonl"
    save_jsonl(ds, path)
    back = load_jsonl(path)
    assert back.models == ds.models and back.prompts == ds.prompts and back.ids == ds.ids
    np.testing.assert_array_equal(back.scores, ds.scores)
    np.testing.assert_array_equal(back.costs, ds.costs)
    assert back.cost_unit == "units" and back.groups == ds.groups
    assert back.responses["small"] == ("4", "Lyon")
    assert back.subset([1]).prompts == ("capital of France?",)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError):
        OutcomeDataset("bad", ("a",), ("a",), ("m",), np.zeros((1, 2)), np.zeros((1, 2)))
