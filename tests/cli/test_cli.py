"""The CLI as a user runs it: typer's runner over the real commands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli import _register_all, app

_register_all()
runner = CliRunner()
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082"
)


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "demo", "route", "models", "validate", "train", "eval", "report", "hash-key"):
        assert command in result.output


def test_route_explain_for_a_cut_out_request(tmp_path: Path) -> None:
    image = tmp_path / "dog.png"
    image.write_bytes(PNG)
    result = runner.invoke(app, ["route", "Cut the dog out of this photo", "--image", str(image), "--explain"])
    assert result.exit_code == 0, result.output
    assert "grabcut-local" in result.output and "image-triage" in result.output


def test_route_json_is_a_decision() -> None:
    result = runner.invoke(app, ["route", "Book a table for two at 8pm", "--json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output[result.output.index("{") :])
    assert decision["family"] == "lam"
    assert decision["model"] == "sim-lam"
    assert decision["path"][0] == "default"
    assert decision["confidence"] is not None and 0 < decision["confidence"] <= 1
    assert decision["reason"]


def test_route_with_missing_image_fails_clearly() -> None:
    result = runner.invoke(app, ["route", "what is this", "--image", "/nonexistent.png"])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_validate_reports_file_key_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  m: {family: llm, provider: sim, price: {input: -1}}\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: models.m.price.input: must be ≥ 0" in " ".join(result.output.split())


def test_models_table_marks_simulated_backends() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "smollm2-local" in result.output and "SIMULATED" in result.output


def test_hash_key_prints_digest_not_key() -> None:
    result = runner.invoke(app, ["hash-key", "s3cret", "--name", "team-a"])
    assert result.exit_code == 0
    assert hashlib.sha256(b"s3cret").hexdigest() in result.output
    assert "s3cret" not in result.output.replace(hashlib.sha256(b"s3cret").hexdigest(), "")
