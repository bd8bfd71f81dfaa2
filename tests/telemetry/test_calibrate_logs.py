"""``modelyard calibrate --from-logs``: the threshold comes from prompts the engine really logged."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.routing.threshold import ThresholdScorer
from modelyard.telemetry.report import load_records
from modelyard.types import ChatRequest
from tests.telemetry.conftest import SIM, MakeEngine

_register_all()
runner = CliRunner()
TRAFFIC = [
    "Prove that there are infinitely many primes of the form 4k+{n} and explain each step",
    "What is the derivative of x^{n} times ln(x)? Show the working",
    "Which enzyme unwinds DNA during replication in organism number {n}?",
    "Translate 'good morning' into French for my {n} colleagues",
    "Write a short birthday message for my friend who turns {n}",
    "Summarise the plot of a romantic comedy set in city {n}",
]


def yaml(db: Path) -> str:
    return (
        SIM
        + f"""
routers:
  strong-weak: {{kind: threshold, artefact: mmlu-minilm-logreg, strong: large, weak: tiny, strong_share: 0.3}}
telemetry: {{capture_text: true, sinks: [{{kind: sqlite, path: '{db}'}}], flush_interval_ms: 20}}
"""
    )


@pytest.fixture
async def db(make_engine: MakeEngine, tmp_path: Path) -> Path:
    path = tmp_path / "records.db"
    engine = make_engine(yaml(path))
    for n in range(8):
        for text in TRAFFIC:
            await engine.chat(ChatRequest.from_text(text.format(n=n), model="strong-weak"))
    await engine.aclose()  # flushes the sink
    return path


def _value(output: str, label: str) -> str:
    match = re.search(re.escape(label) + r"\s*│?\s*([^\s│]+)", output)
    assert match, output
    return match.group(1)


@pytest.mark.parametrize("share", [0.25, 0.5])
async def test_threshold_from_logged_prompts_hits_the_share_on_them(db: Path, share: float) -> None:
    records = load_records(str(db))
    assert len(records) == 48 and all(r.prompt for r in records)
    result = runner.invoke(
        app, ["calibrate", "--from-logs", str(db), "--strong-share", str(share)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    threshold = float(_value(result.output, "threshold (logged prompts)"))
    scorer = ThresholdScorer.load("mmlu-minilm-logreg")
    texts = [r.prompt.removeprefix("user: ") for r in records if r.prompt]
    scores = scorer.score(texts)
    assert float((scores >= threshold).mean()) == pytest.approx(share, abs=1 / 48 + 1e-9)
    assert "YAML: {kind: threshold, artefact: mmlu-minilm-logreg, threshold:" in " ".join(result.output.split())
    bench = scorer.threshold_for_share(share)
    assert threshold != pytest.approx(bench)  # this traffic is not MMLU-val: the thresholds differ


async def test_spend_per_1k_sets_the_share_from_logged_costs(db: Path) -> None:
    records = load_records(str(db))
    c_large = np.mean([r.cost_usd for r in records if r.model == "large"])
    c_tiny = np.mean([r.cost_usd for r in records if r.model == "tiny"])
    spend = 1000 * (c_tiny + 0.4 * (c_large - c_tiny))  # the spend of a 40% strong share
    result = runner.invoke(
        app,
        [
            "calibrate",
            "--from-logs",
            str(db),
            "--spend-per-1k",
            str(spend),
            "--strong-cost",
            "large",
            "--weak-cost",
            "tiny",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "40.0%" in _value(result.output, "target strong share")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spend-per-1k", "1"], "needs --strong-cost"),
        (["--spend-per-1k", "1", "--strong-cost", "nobody", "--weak-cost", "tiny"], "no successful record"),
        (["--requested", "elsewhere"], "none of the 0 records for 'elsewhere' carries prompt text"),
    ],
)
async def test_bad_calibration_requests_are_clear_errors(db: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["calibrate", "--from-logs", str(db), *args], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


async def test_records_without_text_are_refused(make_engine: MakeEngine, tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    engine = make_engine(yaml(path).replace("capture_text: true", "capture_text: false"))
    await engine.chat(ChatRequest.from_text("hello there, how are you today?", model="strong-weak"))
    await engine.aclose()
    result = runner.invoke(app, ["calibrate", "--from-logs", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code != 0 and "turn on telemetry.capture_text" in " ".join(result.output.split())


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
async def test_quality_cost_lambda_fits_a_spend_on_logged_prompts(db: Path, fraction: float) -> None:
    """λ of the N-model router: its expected spend on the logged prompts stays within the budget."""
    from modelyard.routing.quality_cost import QualityCostArtefact, resolve_artefact

    costs = QualityCostArtefact.load(resolve_artefact("routerbench-minilm")).mean_cost
    spend = 1000 * (costs.min() + fraction * (costs.max() - costs.min()))
    result = runner.invoke(
        app,
        ["calibrate", "-r", "routerbench-minilm", "--from-logs", str(db), "--spend-per-1k", f"{spend:.6f}"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    got = float(_value(result.output, "expected spend per 1k at this lambda").lstrip("$"))
    assert got <= spend + 1e-3
    if fraction == 0.0:  # the cheapest model for every prompt
        assert got == pytest.approx(1000 * costs.min(), abs=1e-3)
    assert "YAML: {kind: quality_cost, artefact: routerbench-minilm, lambda:" in " ".join(result.output.split())


def test_quality_cost_router_needs_a_spend(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", "-r", "routerbench-minilm", "--strong-share", "0.3"])
    assert result.exit_code != 0 and "--spend-per-1k" in " ".join(result.output.split())
