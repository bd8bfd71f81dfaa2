"""Scores outside [0, 1]: quality in its own unit, AIQ normalised, APGR/CPT unchanged.

The issue's example is 1-10 judge scores whose strong mean 8.28125 printed as
"828.1%" and whose AIQ printed in the hundreds. Every row below is the same 32
judged prompts on another scale (or binarised), so APGR and CPT must agree
across the affine rows, and AIQ must agree wherever the declared range maps
onto the same [0, 1].
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from rich.console import Console

from modelyard.cli.eval_cmd import metrics_legend, metrics_table
from modelyard.eval.datasets import OutcomeDataset, load_jsonl, save_jsonl
from modelyard.eval.metrics import two_model_curve
from modelyard.eval.plots import plot_figure
from modelyard.eval.scale import ScoreScale, infer_scale, parse_score_range
from modelyard.eval.sweep import Report, evaluate_routers, summarize

FloatArray = npt.NDArray[np.float64]

# 1-10 judge scores of 32 prompts: strong mean 265/32 = 8.28125, weak 197/32 = 6.15625
JUDGE_STRONG = [9, 9, 8, 8, 9, 8, 10, 10, 9, 7, 9, 10, 8, 7, 8, 10, 7, 9, 5, 7, 6, 9, 7, 10, 9, 8, 6, 8, 10, 8, 8, 9]
JUDGE_WEAK = [6, 8, 4, 7, 6, 5, 9, 7, 4, 6, 7, 6, 7, 6, 7, 8, 5, 7, 6, 6, 4, 5, 6, 8, 8, 4, 5, 7, 3, 6, 6, 8]
N = len(JUDGE_STRONG)


def judge() -> tuple[FloatArray, FloatArray]:
    return np.array(JUDGE_STRONG, dtype=np.float64), np.array(JUDGE_WEAK, dtype=np.float64)


def router() -> FloatArray:
    """A fixed, imperfect strong/weak router: the true gain plus noise."""
    qs, qw = judge()
    return (qs - qw) + np.random.default_rng(3).normal(0, 1.5, N)


def dataset(qs: FloatArray, qw: FloatArray, score_range: tuple[float, float] | None) -> OutcomeDataset:
    return OutcomeDataset(
        name="judged",
        ids=tuple(f"p{i}" for i in range(N)),
        prompts=tuple(f"prompt {i}" for i in range(N)),
        models=("strong", "weak"),
        scores=np.stack([qs, qw], axis=1),
        costs=np.tile([10.0, 1.0], (N, 1)),
        cost_unit="units",
        score_range=score_range,
    )


@dataclass(frozen=True)
class Row:
    """One scale: how the judge scores map onto it, what is declared, what must be printed."""

    label: str
    a: float  # scores = a * (judge - 1) / 9 + b; binary rows ignore a, b
    b: float
    declared: tuple[float, float] | None
    header: str  # the quality column's header
    weak_to_strong: str  # the oracle row's quality cell
    strong: str  # the always-strong row's quality cell
    scale_line: str  # the legend's description of the scale
    axis: str  # the plots' quality axis label
    binary: bool = False

    def scores(self) -> tuple[FloatArray, FloatArray]:
        qs, qw = judge()
        if self.binary:
            return (qs >= 8).astype(np.float64), (qw >= 8).astype(np.float64)
        return self.a * (qs - 1) / 9 + self.b, self.a * (qw - 1) / 9 + self.b


ROWS = [
    Row(
        "[0,1] binary", 1, 0, None, "quality (%)", "18.8% → 75.0%", "75.0%",
        "scores 0–1 (all scores within [0, 1]); quality shown as a percentage", "quality (% correct)", binary=True,
    ),
    Row(
        "[0,1] continuous", 1, 0, None, "quality (%)", "57.3% → 80.9%", "80.9%",
        "scores 0–1 (all scores within [0, 1]); quality shown as a percentage", "quality (mean score, %)",
    ),
    Row(  # the example: used to print 828.1% and AIQ in the hundreds
        "1-10 judge, declared", 9, 1, (1, 10), "quality (1–10)", "6.16 → 8.28", "8.28",
        "scores 1–10 (declared score_range); quality shown as mean scores", "quality (mean score, 1–10)",
    ),
    Row(
        "1-10 judge, undeclared", 9, 1, None, "quality (3–10)", "6.16 → 8.28", "8.28",
        "scores 3–10 (observed min/max; declare score_range for a fixed scale); quality shown as mean scores",
        "quality (mean score, 3–10)",
    ),
    Row(
        "0-100 rubric", 100, 0, (0, 100), "quality (0–100)", "57.3 → 80.9", "80.9",
        "scores 0–100 (declared score_range); quality shown as mean scores", "quality (mean score, 0–100)",
    ),
    Row(
        "negative rewards", 10, -7, (-7, 3), "quality (-7–3)", "-1.27 → 1.09", "1.09",
        "scores -7–3 (declared score_range); quality shown as mean scores", "quality (mean score, -7–3)",
    ),
]  # fmt: skip

#: rows that are affine images of the continuous [0, 1] row with a declared (or [0, 1]) range
AFFINE_DECLARED = {"[0,1] continuous", "1-10 judge, declared", "0-100 rubric", "negative rewards"}


def run(row: Row) -> Report:
    qs, qw = row.scores()
    return evaluate_routers(
        dataset(qs, qw, row.declared), {"noisy": router()}, strong="strong", weak="weak", bootstrap=20, random_seeds=10
    )


def render(report: Report) -> list[str]:
    console = Console(width=250, record=True, color_system=None, file=io.StringIO())
    console.print(metrics_table(report))
    return console.export_text().splitlines()


def line_of(lines: list[str], name: str) -> str:
    return next(line for line in lines if line.strip("│ ").startswith(name))


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.replace("┃", "│").strip().strip("│").split("│")]


@pytest.fixture(scope="module")
def reference() -> dict[str, float]:
    """Metrics of the continuous [0, 1] row, which every affine declared row must reproduce."""
    row = next(r for r in ROWS if r.label == "[0,1] continuous")
    return next(r for r in run(row).results if r.name == "noisy").metrics


@pytest.mark.parametrize("row", ROWS, ids=[r.label for r in ROWS])
def test_table_text_and_metrics_in_the_scores_unit(row: Row, reference: dict[str, float]) -> None:
    report = run(row)
    lines = render(report)
    header = next(line for line in lines if "APGR" in line)
    assert cells(header)[-2:] == ["AIQ (norm.)", row.header]
    oracle, noisy = line_of(lines, "oracle"), line_of(lines, "noisy")
    assert cells(oracle)[-1] == row.weak_to_strong
    assert cells(line_of(lines, "always-strong"))[-1] == row.strong
    text = "\n".join(lines)
    assert "828" not in text
    if not row.binary and row.declared != (0, 1) and row.label != "[0,1] continuous":
        assert "%" not in cells(oracle)[-1] and "%" not in cells(line_of(lines, "always-weak"))[-1]
    by = {r.name: r for r in report.results}
    m = by["noisy"].metrics
    # AIQ is a fraction of the score range, printed as such, never in the hundreds
    for name in ("oracle", "noisy"):
        aiq = by[name].metrics["aiq"]
        assert 0.0 <= aiq <= 1.0
        assert cells(line_of(lines, name))[6] == f"{aiq:.3f}"
    # qualities stay in score units
    qs, qw = row.scores()
    assert by["always-strong"].metrics["quality"] == pytest.approx(qs.mean())
    assert m["weak_quality"] == pytest.approx(qw.mean()) and m["strong_quality"] == pytest.approx(qs.mean())
    assert cells(noisy)[2].startswith(f"{m['apgr']:.3f}")
    # APGR and CPT are scale-free; AIQ agrees wherever the declared range maps onto the same [0, 1]
    if not row.binary:
        for key in ("apgr", "apgr_exact", "cpt20", "cpt50", "cpt80", "cpt80_exact"):
            assert m[key] == pytest.approx(reference[key], nan_ok=True), key
    if row.label in AFFINE_DECLARED:
        assert m["aiq"] == pytest.approx(reference["aiq"])
    if row.label == "1-10 judge, undeclared":  # normalised by the observed 3..10 instead of 1..10
        assert m["aiq"] == pytest.approx((9 * reference["aiq"] + 1 - 3) / 7)
    assert row.scale_line in metrics_legend(report)
    lo, hi = report.scale.lo, report.scale.hi
    assert f"(0 = score {lo:g}, 1 = score {hi:g})" in metrics_legend(report)
    data = report.to_json()
    assert data["score_scale"] == report.scale.to_json()
    assert data["units"]["aiq"] == "fraction of the score range (0 = worst score, 1 = best)"  # type: ignore[index]


@pytest.mark.parametrize("row", ROWS, ids=[r.label for r in ROWS])
def test_plot_axes_are_labelled_and_drawn_in_the_unit(row: Row) -> None:
    import matplotlib.pyplot as plt

    report = run(row)
    fig = plot_figure(report)
    try:
        ax_share, ax_cost = fig.axes
        assert ax_share.get_ylabel() == ax_cost.get_ylabel() == row.axis
        strong = next(r for r in report.results if r.name == "always-strong").metrics["quality"]
        expected = strong * 100 if report.scale.is_unit else strong
        hlines = [ln for ln in ax_share.get_lines() if str(ln.get_label()).startswith("always-strong")]
        assert float(np.asarray(hlines[0].get_ydata())[0]) == pytest.approx(expected)
        assert hlines[0].get_label() == f"always-strong ({row.strong})"
    finally:
        plt.close(fig)


def test_aiq_hand_computed_on_a_1_to_10_scale() -> None:
    # p1: strong 10, weak 1; p2: both 4. Cost strong 1, weak 0. Oracle order routes p1 first.
    # Curve: share 0 → q 2.5 at cost 0; share 0.5 → 7 at 0.5; share 1 → 7 at 1.
    # Normalised to 1..10: 1/6, 2/3, 2/3. AIQ over [0, 1] = 0.5*(1/6+2/3)/2 + 0.5*2/3 = 13/24.
    curve = two_model_curve([9.0, 0.0], [10.0, 4.0], [1.0, 4.0], [1.0, 1.0], [0.0, 0.0])
    m = summarize(curve, 0.0, 1.0, scale=ScoreScale(1, 10, "declared"))
    assert m["aiq"] == pytest.approx(13 / 24)
    assert m["apgr"] == pytest.approx(0.75)  # PGR = 2r up to r = 0.5, then 1; 11-point trapezoid
    assert m["weak_quality"] == 2.5 and m["strong_quality"] == 7.0
    assert m["cpt50"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("scores", "declared", "expected"),
    [
        ([0, 1, 1, 0], None, ScoreScale(0, 1, "unit", binary=True)),
        ([0.2, 0.9, 0.5], None, ScoreScale(0, 1, "unit")),
        ([1, 1, 1], None, ScoreScale(0, 1, "unit", binary=True)),
        ([3, 10, 7], None, ScoreScale(3, 10, "observed")),
        ([3, 10, 7], (1, 10), ScoreScale(1, 10, "declared")),
        ([1, 10], (1, 10), ScoreScale(1, 10, "declared", binary=True)),
        ([-4.5, 2.0], None, ScoreScale(-4.5, 2.0, "observed", binary=True)),
        ([0.5], (0, 1), ScoreScale(0, 1, "declared")),
    ],
)
def test_infer_scale(scores: list[float], declared: tuple[float, float] | None, expected: ScoreScale) -> None:
    assert infer_scale(np.array(scores, dtype=np.float64), declared, name="d") == expected


@pytest.mark.parametrize(
    ("scores", "declared", "error"),
    [
        ([1, 11, 12], (1, 10), "d: 2 score(s) outside the declared score_range [1, 10] (e.g. 11; observed 1..12)"),
        ([1, 2], (10, 1), "d: score_range must be [lo, hi] with lo < hi, got [10, 1]"),
        ([5, 5], None, "d: every score is 5; declare score_range [lo, hi] to give them a scale"),
        ([1, math.nan], None, "d: 1 score(s) are NaN or infinite"),
    ],
)
def test_bad_scales_are_named(scores: list[float], declared: tuple[float, float] | None, error: str) -> None:
    with pytest.raises(ValueError) as info:
        infer_scale(np.array(scores, dtype=np.float64), declared, name="d")
    assert str(info.value) == error


@pytest.mark.parametrize(("text", "expected"), [("1,10", (1.0, 10.0)), ("-5,5", (-5.0, 5.0)), ("0:100", (0.0, 100.0))])
def test_parse_score_range(text: str, expected: tuple[float, float]) -> None:
    assert parse_score_range(text) == expected


@pytest.mark.parametrize("text", ["10", "10,1", "a,b", "1,2,3", "1,inf"])
def test_parse_score_range_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="score range"):
        parse_score_range(text)


def test_jsonl_header_declares_the_range_and_round_trips(tmp_path: Path) -> None:
    qs, qw = judge()
    path = tmp_path / "judged.jsonl"
    save_jsonl(dataset(qs, qw, (1, 10)), path)
    assert json.loads(path.read_text().splitlines()[0])["score_range"] == [1.0, 10.0]
    loaded = load_jsonl(path)
    assert loaded.score_range == (1.0, 10.0) and loaded.scale == ScoreScale(1, 10, "declared")
    assert loaded.subset([0, 1]).scale == loaded.scale


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ({"score_range": [1, 5]}, "judged.jsonl: 54 score(s) outside the declared score_range [1, 5] (e.g. 9;"),
        (
            {"score_range": "1-10"},
            "judged.jsonl: header score_range must be [worst, best] numbers such as [1, 10], got '1-10'",
        ),
        ({"score_range": [1, True]}, "header score_range must be [worst, best] numbers"),
    ],
)
def test_bad_headers_fail_with_the_file_named(tmp_path: Path, header: dict[str, object], error: str) -> None:
    qs, qw = judge()
    path = tmp_path / "judged.jsonl"
    save_jsonl(dataset(qs, qw, None), path)
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({"format": "modelyard-outcomes/1", **header})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as info:
        load_jsonl(path)
    assert str(info.value).startswith(str(tmp_path)) and error in str(info.value)
