"""``modelyard run-pipeline`` and ``modelyard route -r pipeline:NAME --explain`` on a simulated config."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli import _register_all, app

_register_all()

CONFIG = """
version: 1
models:
  sim-a: {family: slm, provider: sim, price: {input: 0.001, output: 0.002}, options: {latency_ms: 50}}
  sim-b: {family: llm, provider: sim, price: {input: 0.003, output: 0.015}}
pipelines:
  two:
    stages:
      first: {kind: chat, target: slm, prompt: "look at {{request.text}} for {{inputs.who}}"}
      second: {kind: chat, target: sim-b, prompt: "answer from {{stages.first.text}}"}
telemetry: {enabled: false}
"""


def test_run_pipeline_prints_every_stage(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(app, ["run-pipeline", "two", "hello", "-c", str(path), "-i", "who=ops", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{") :])
    assert out["model"] == "sim-b"
    assert out["answer"] == "[simulated sim-b] echo: answer from [simulated sim-a] echo: look at hello for ops"
    assert set(out["pipeline"]["stages"]) == {"first", "second"}
    assert out["pipeline"]["stages"]["first"]["models"] == ["sim-a"]
    missing = CliRunner().invoke(app, ["run-pipeline", "nope", "x", "-c", str(path)])
    assert missing.exit_code == 1 and "no pipeline 'nope'" in missing.output


def test_route_explain_draws_the_stage_graph(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(app, ["route", "x", "-r", "pipeline:two", "-c", str(path), "--explain"])
    assert result.exit_code == 0, result.output
    assert "[first] chat slm" in result.output and "[second] chat sim-b  ← first  ⇒ answer" in result.output
