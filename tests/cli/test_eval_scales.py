"""``modelyard eval`` on 1-10 judge scores, as a user runs it: quality in score units, AIQ normalised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.eval.datasets import OutcomeDataset, save_jsonl
from tests.eval.test_score_scales import JUDGE_STRONG, JUDGE_WEAK

_register_all()
runner = CliRunner()
N = len(JUDGE_STRONG)


def write_outcomes(path: Path, score_range: tuple[float, float] | None) -> Path:
    topics = ["algebra", "poetry", "history", "chemistry", "travel", "cooking", "law", "music"]
    save_jsonl(
        OutcomeDataset(
            name=path.stem,
            ids=tuple(f"p{i}" for i in range(N)),
            prompts=tuple(f"Question {i} about {topics[i % len(topics)]}: explain it briefly." for i in range(N)),
            models=("judge-strong", "judge-weak"),
            scores=np.array([JUDGE_STRONG, JUDGE_WEAK], dtype=np.float64).T,
            costs=np.tile([0.01, 0.001], (N, 1)),
            score_range=score_range,
        ),
        path,
    )
    return path


def run(path: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = ["eval", "-d", str(path), "--strong", "judge-strong", "--weak", "judge-weak"]
    args += ["--bootstrap", "20", "--random-seeds", "5", "-o", str(out), *extra]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("declared", "option", "scale_text"),
    [
        ((1, 10), (), "scores 1–10 (declared score_range)"),  # the example
        (None, ("--score-range", "1,10"), "scores 1–10 (declared score_range)"),
        (None, (), "scores 3–10 (observed min/max; declare score_range for a fixed scale)"),
    ],
)
def test_eval_prints_judge_scores_in_their_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declared: tuple[float, float] | None,
    option: tuple[str, ...], scale_text: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the embedding cache goes under ./.cache
    path = write_outcomes(tmp_path / "judged.jsonl", declared)
    code, out = run(path, tmp_path / "out", *option)
    assert code == 0, out
    assert "828.1%" not in out and "615.6%" not in out
    assert "6.16 → 8.28" in out
    assert scale_text in out
    unit = "1–10" if "1–10" in scale_text else "3–10"
    assert f"quality ({unit})" in out
    data = json.loads((tmp_path / "out" / "eval_judged.json").read_text())
    lo = 1.0 if unit == "1–10" else 3.0
    assert data["score_scale"]["lo"] == lo and data["score_scale"]["hi"] == 10.0
    for r in data["routers"]:
        if "aiq" in r["metrics"]:
            assert 0.0 <= r["metrics"]["aiq"] <= 1.0
    strong = next(r for r in data["routers"] if r["name"] == "always-strong")
    assert strong["metrics"]["quality"] == pytest.approx(8.28125)
    assert (tmp_path / "out" / "eval_judged.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("1,5", "judged.jsonl: 54 score(s) outside the declared score_range [1, 5]"),
        ("10,1", "--score-range: score range '10,1': need LO < HI"),
        ("ten", "--score-range: score range 'ten': expected LO,HI such as 1,10 or -5,5"),
    ],
)
def test_bad_score_ranges_fail_clearly(tmp_path: Path, option: str, error: str) -> None:
    path = write_outcomes(tmp_path / "judged.jsonl", None)
    code, out = run(path, tmp_path / "out", f"--score-range={option}")
    assert code == 1
    assert error in out
