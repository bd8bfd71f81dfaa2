"""Sweep + bootstrap + report JSON + plot on a small synthetic two-model dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard.eval.datasets import OutcomeDataset
from modelyard.eval.plots import plot_report
from modelyard.eval.sweep import evaluate_routers


def _dataset(n: int = 200) -> OutcomeDataset:
    rng = np.random.default_rng(0)
    qs = (rng.random(n) < 0.8).astype(float)
    qw = (rng.random(n) < 0.6).astype(float) * qs
    return OutcomeDataset(
        name="toy",
        ids=tuple(f"p{i}" for i in range(n)),
        prompts=tuple(f"prompt {i}" for i in range(n)),
        models=("strong", "weak"),
        scores=np.stack([qs, qw], axis=1),
        costs=np.tile([10.0, 1.0], (n, 1)),
        cost_unit="units",
    )


def test_report_rows_metrics_and_files(tmp_path: Path) -> None:
    ds = _dataset()
    gain = ds.scores[:, 0] - ds.scores[:, 1]
    noisy = gain + np.random.default_rng(1).normal(0, 0.5, len(ds))
    report = evaluate_routers(
        ds,
        {"noisy": noisy},
        strong="strong",
        weak="weak",
        cascades={"casc": noisy},
        bootstrap=50,
        random_seeds=20,
    )
    names = [r.name for r in report.results]
    assert names[:2] == ["oracle", "random (mean of 20 seeds)"]
    assert {"noisy", "casc", "always-weak", "always-strong"} <= set(names)
    by = {r.name: r for r in report.results}
    assert by["oracle"].metrics["apgr"] > by["noisy"].metrics["apgr"] > 0.5
    lo, hi = by["noisy"].ci["apgr"]
    assert lo <= by["noisy"].metrics["apgr"] <= hi
    assert by["random (mean of 20 seeds)"].metrics["apgr"] == pytest.approx(0.5, abs=0.05)
    # same ranking, but the cascade also pays the weak call everywhere
    assert by["casc"].metrics["apgr"] == pytest.approx(by["noisy"].metrics["apgr"])
    assert by["casc"].curve.cost[-1] == pytest.approx(11.0)
    assert by["noisy"].metrics["aiq"] > by["casc"].metrics["aiq"]
    path = tmp_path / "r.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["routers"][0]["name"] == "oracle" and len(data["routers"][0]["grid"]["quality"]) == 11
    png = plot_report(report, tmp_path / "r.png")
    assert png.stat().st_size > 10_000


def test_wrong_length_scores_are_rejected() -> None:
    with pytest.raises(ValueError):
        evaluate_routers(
            _dataset(), {"bad": np.zeros(3)}, strong="strong", weak="weak", bootstrap=0, random_seeds=2
        )
