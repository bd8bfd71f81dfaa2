"""``batch expand`` (template × variables → input file), ``batch report`` and the CLI around them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelyard.batch import Checkpoint, RunOptions
from modelyard.batch.expand import ExpandError, expand, expand_file
from modelyard.batch.report import batch_report, plot_report
from tests.batch.conftest import SIM_BATCH, chat_line, run_local, write_lines
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
FACTORY = ROOT / "examples" / "content-factory" / "template.yaml"
CLI = [sys.executable, "-m", "modelyard.cli"]


def test_the_content_factory_template_expands_problems_x_languages_x_flavours(tmp_path: Path) -> None:
    out = tmp_path / "factory.jsonl"
    n = expand_file(FACTORY, out)
    problems = (FACTORY.parent / "problems.jsonl").read_text().splitlines()
    assert n == len(problems) * 3 * 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["custom_id"] == "two-sum/python/tutorial" and lines[1]["custom_id"] == "two-sum/python/interview"
    assert lines[0]["body"]["messages"][1]["content"] == "Write a tutorial-style solution of Two Sum (easy) in python."
    critical = [line for line in lines if line["body"]["messages"][1]["content"].startswith("[quality-critical] ")]
    assert len(critical) == 9 and all(line["custom_id"].startswith("median-of-two") for line in critical)


BASE: dict[str, Any] = {"variables": {"x": ["a", "b"]}, "custom_id": "{x}", "body": {"messages": [
    {"role": "user", "content": "say {x}"}]}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"custom_id": "{y}"}, "custom_id: unknown variable 'y'"),
        ({"body": {"messages": [{"role": "user", "content": "{nope}"}]}}, "body.messages[0].content: unknown variable"),
        ({"variables": {"x": []}}, "variables.x: expected a non-empty list"),
        ({"variables": {"x": ["a"], "y": ["1", "2"]}}, "custom_id 'a' repeats"),
        ({"url": "/v1/completions"}, "url: '/v1/completions' is not served"),
        ({"extra": 1}, "unknown key(s) extra"),
        ({"variables": {"x": {"file": "missing.txt"}}}, "variables.x.file: cannot read"),
        ({"body": "text"}, "body: expected a mapping"),
    ],
)
def test_bad_templates_name_what_is_wrong(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpandError, match=r"t\.yaml: ") as info:
        list(expand({**BASE, **change}, base=tmp_path, source="t.yaml"))
    assert message in str(info.value)


def test_text_file_variables_and_mapping_fields(tmp_path: Path) -> None:
    (tmp_path / "langs.txt").write_text("python\n\njava\n")
    template = {**BASE, "variables": {"p": [{"id": "p1", "title": "T"}], "lang": {"file": "langs.txt"}},
                "custom_id": "{p}/{lang}", "body": {"input": "{p.title} in {lang}"}, "url": "/v1/embeddings"}
    lines = list(expand(template, base=tmp_path))
    assert [(line["custom_id"], line["body"]["input"]) for line in lines] == [
        ("p1/python", "T in python"), ("p1/java", "T in java")]


async def test_report_counts_cost_by_model_and_the_counterfactual(tmp_path: Path) -> None:
    config = make_config(SIM_BATCH)
    lines = [chat_line(f"i{i}", ("[hard] " if i % 4 == 0 else "") + f"item {i}") for i in range(40)]
    result = await run_local(config, tmp_path, write_lines(tmp_path / "in.jsonl", lines))
    cp = Checkpoint(result.paths.checkpoint)
    try:
        report = batch_report(cp)
    finally:
        cp.close()
    assert (report.total, report.done, report.failed) == (40, 40, 0)
    assert report.answers_by_model == {"top": 10, "cheap": 30}
    assert set(report.cost_by_family) == {"llm", "slm"}
    assert sum(report.cost_by_model.values()) == pytest.approx(report.spent_usd)
    assert report.top_model == "top"
    # the counterfactual prices every item's kept answer at the top model: the cheap items at 10× the price
    cheap_cost = report.cost_by_model["cheap"]
    assert report.counterfactual_usd == pytest.approx(report.cost_by_model["top"] + cheap_cost * 10)
    assert report.saving is not None and 0 < report.saving < 1
    assert set(report.latency_ms) == {"p50", "p90", "p99", "max"}
    png = plot_report(report, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_run_report_and_bad_input(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(SIM_BATCH)
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"item {i}") for i in range(12)])
    out = tmp_path / "out.jsonl"
    run = subprocess.run([*CLI, "batch", "run", str(src), "--out", str(out), "-c", str(cfg), "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "12 done, 0 failed" in run.stdout and len(out.read_text().splitlines()) == 12
    report = subprocess.run([*CLI, "batch", "report", str(tmp_path / "out.checkpoint.sqlite"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and json.loads(report.stdout)["done"] == 12
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a"}\n')
    failed = subprocess.run([*CLI, "batch", "run", str(bad), "--out", str(tmp_path / "b.jsonl"), "-c", str(cfg)],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "line 1: method must be" in failed.stderr
    over = subprocess.run([*CLI, "batch", "run", str(src), "--out", str(tmp_path / "o2.jsonl"), "-c", str(cfg),
                           "--budget", "0.0001", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert over.returncode == 3 and "run budget" in over.stdout


def test_template_yaml_is_valid_yaml_for_readers() -> None:
    assert yaml.safe_load(FACTORY.read_text())["variables"]["language"] == ["python", "java", "cpp"]


async def test_a_hold_too_small_for_the_route_refuses_calls_never_overspends_and_is_reported(tmp_path: Path) -> None:
    from modelyard.config import load_config

    config = load_config(ROOT / "examples" / "content-pipeline.yaml")  # SIMULATED models
    src = tmp_path / "in.jsonl"
    expand_file(FACTORY, src)
    result = await run_local(config, tmp_path, src, item_reserve_usd=0.01, options=RunOptions(budget_usd=5.0))
    cp = Checkpoint(result.paths.checkpoint)
    try:
        report = batch_report(cp)
        costs = [r["cost_nano"] for r in cp.rows("cost_nano")]
    finally:
        cp.close()
    assert max(costs) <= 0.01 * 1e9  # no item spent past its hold
    assert report.failed == 9 and report.failures_by_code == {"insufficient_quota": 9}  # the council items
    assert report.held_back >= 9 + 1  # and cascades that could not escalate
