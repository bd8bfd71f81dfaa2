"""N-model frontier: AIQ, cost to reach the best model, quality at its cost, baselines, intervals; the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.eval.datasets import OutcomeDataset, save_jsonl
from modelyard.eval.frontier import evaluate_frontier, hull_cost_at, hull_quality_at
from modelyard.eval.metrics import aiq
from modelyard.eval.multimodel import synthetic_dataset

_register_all()
runner = CliRunner()


def test_perfect_predictions_reach_the_oracle_and_the_closed_form_costs() -> None:
    ds = synthetic_dataset(300, seed=0)  # costs 1, 3, 10 per call; easy / medium / hard prompts
    perfect = ds.scores.copy()
    report = evaluate_frontier(ds, {"perfect": (perfect, np.array([1.0, 3.0, 10.0]))}, bootstrap=50)
    router, oracle = report.get("perfect"), report.get("oracle")
    assert router.metrics["aiq"] == pytest.approx(oracle.metrics["aiq"])
    kinds = np.array(ds.groups)
    want = (kinds == "easy").mean() * 1 + (kinds == "medium").mean() * 3 + (kinds == "hard").mean() * 10
    assert report.best_single == "dear" and report.cheapest == "cheap"
    assert router.metrics["cost_at_best"] == pytest.approx(want)
    assert router.metrics["cost_saving"] == pytest.approx(1 - want / 10)
    assert router.metrics["quality_at_best_cost"] == pytest.approx(1.0)
    assert router.metrics["aiq_over_random"] > 0 and router.ci["aiq_over_random"][0] > 0


def test_random_baseline_is_the_hull_of_the_single_models() -> None:
    ds = synthetic_dataset(300, seed=1)
    report = evaluate_frontier(ds, {}, bootstrap=0)
    q, c = ds.scores.mean(axis=0), ds.costs.mean(axis=0)
    assert report.get("random (model mix)").metrics["aiq"] == pytest.approx(aiq(c, q, c.min(), c.max()))


@pytest.mark.parametrize("noise", [0.3, 1.0])
def test_noisy_predictions_fall_between_random_and_oracle(noise: float) -> None:
    ds = synthetic_dataset(300, seed=2)
    rng = np.random.default_rng(0)
    pred = ds.scores + rng.normal(0, noise, ds.scores.shape)
    report = evaluate_frontier(ds, {"noisy": (pred, np.array([1.0, 3.0, 10.0]))}, bootstrap=100)
    r = report.get("noisy")
    assert r.metrics["aiq"] <= report.get("oracle").metrics["aiq"] + 1e-12
    lo, hi = r.ci["aiq"]
    assert lo <= r.metrics["aiq"] <= hi


@pytest.mark.parametrize(
    ("quality", "want"),
    [(0.5, 1.0), (0.75, 2.0), (1.0, 3.0), (1.01, math.nan)],
)
def test_hull_cost_at(quality: float, want: float) -> None:
    hc, hq = np.array([1.0, 3.0]), np.array([0.5, 1.0])
    got = hull_cost_at(hc, hq, quality)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_hull_quality_below_the_cheapest_point_is_undefined() -> None:
    assert math.isnan(hull_quality_at(np.array([1.0, 3.0]), np.array([0.5, 1.0]), 0.5))


def test_mismatched_predictions_are_a_clear_error() -> None:
    ds = synthetic_dataset(30)
    with pytest.raises(ValueError, match=r"router bad: predictions \(30, 2\)"):
        evaluate_frontier(ds, {"bad": (np.zeros((30, 2)), np.ones(2))}, bootstrap=0)


def _outcomes(path: Path, n: int, seed: int) -> Path:
    """Three models; arithmetic prompts only the dear model gets right, greetings everyone gets right."""
    rng = np.random.default_rng(seed)
    prompts, scores = [], []
    for i in range(n):
        if i % 2:
            prompts.append(
                f"Compute the integral of x^{rng.integers(2, 9)} times sin({rng.integers(2, 9)}x) dx step by step."
            )
            scores.append([0.0, 0.0, 1.0])
        else:
            prompts.append(f"Say hello politely to my friend number {rng.integers(1, 999)} please, nicely.")
            scores.append([1.0, 1.0, 1.0])
    save_jsonl(
        OutcomeDataset(
            name=path.stem,
            ids=tuple(f"{path.stem}-{i}" for i in range(n)),
            prompts=tuple(prompts),
            models=("cheap", "mid", "dear"),
            scores=np.array(scores),
            costs=np.tile([0.0001, 0.001, 0.01], (n, 1)),
            score_range=(0.0, 1.0),
        ),
        path,
    )
    return path


def test_train_then_eval_on_n_model_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the embedding cache goes to ./.cache
    train, test = _outcomes(tmp_path / "train.jsonl", 60, 0), _outcomes(tmp_path / "test.jsonl", 40, 1)
    art = tmp_path / "qc"
    result = runner.invoke(app, ["train", "--outcomes", str(train), "--out", str(art), "--quality-head", "knn"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in art.iterdir()} == {"router.json", "weights.npz", "ood.npz"}
    out = tmp_path / "res"
    result = runner.invoke(
        app, ["eval", "-d", str(test), "-r", str(art), "--bootstrap", "50", "-o", str(out)], env={"COLUMNS": "220"}
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "cost–quality frontier" in text and "dear (best single)" in text and "cheap (cheapest)" in text
    assert "random (model mix)" in text and "oracle" in text
    report = json.loads((out / "frontier_test.json").read_text())
    by_name = {r["name"]: r["metrics"] for r in report["results"]}
    # the easy/hard split is learnable from the prompt: the router matches the oracle (AIQ 0.875 in closed form)
    assert by_name["qc"]["aiq"] == pytest.approx(by_name["oracle"]["aiq"], abs=0.01)
    assert by_name["oracle"]["aiq"] == pytest.approx(0.875)
    assert by_name["qc"]["aiq_over_random"] > 0.1
    assert by_name["qc"]["cost_saving"] > 0.4
    assert (out / "frontier_test.png").stat().st_size > 10_000


def test_eval_prints_baselines_for_an_n_model_file_without_routers(tmp_path: Path) -> None:
    test = _outcomes(tmp_path / "three.jsonl", 20, 2)
    result = runner.invoke(
        app, ["eval", "-d", str(test), "--bootstrap", "20", "-o", str(tmp_path)], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    assert "three (n=20, 3 models)" in " ".join(result.output.split())


def test_eval_refuses_a_router_that_does_not_know_the_models(tmp_path: Path) -> None:
    test = _outcomes(tmp_path / "three.jsonl", 10, 3)
    result = runner.invoke(app, ["eval", "-d", str(test), "-r", "routerbench-minilm", "-o", str(tmp_path)])
    assert result.exit_code != 0
    assert "not the dataset's ['cheap', 'mid', 'dear']" in " ".join(result.output.split())
