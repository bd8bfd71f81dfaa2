"""``modelyard validate`` warns about an *unset* variable too (README: "warns about empty or unset
variables"; the empty case is tests/cli/test_validate.py), and ``--strict`` makes it fail."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli import _register_all, app

_register_all()


def test_an_unset_api_key_variable_is_a_warning_and_strict_fails(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(
        "models:\n  gpt: {family: llm, provider: openai, base_url: 'https://api.openai.com/v1', "
        "api_key_env: MODELYARD_TEST_UNSET_KEY}\n"
    )
    runner = CliRunner()
    env = {"MODELYARD_TEST_UNSET_KEY": None}  # removed from the environment for the call
    result = runner.invoke(app, ["validate", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "models.gpt.api_key_env: MODELYARD_TEST_UNSET_KEY → not set (API key of gpt)" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: {path}: models.gpt.api_key_env: MODELYARD_TEST_UNSET_KEY is not set; "
        "the API key of gpt will be missing at run time"
    ]
    assert runner.invoke(app, ["validate", str(path), "--strict"], env=env).exit_code == 1
