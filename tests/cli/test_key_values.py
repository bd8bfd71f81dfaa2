"""``KEY=VALUE`` options (``run-pipeline --input``, ``index add --meta``): a bad item exits 1 naming its option."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app

_register_all()

CONFIG = """
version: 1
models:
  sim-a: {family: slm, provider: sim}
pipelines:
  one:
    stages:
      first: {kind: chat, target: sim-a, prompt: "{{request.text}} for {{inputs.who}}"}
telemetry: {enabled: false}
"""


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["run-pipeline", "one", "hi", "-i", "who"], "--input 'who': write KEY=VALUE"),
        (["run-pipeline", "one", "hi", "-i", "=ops"], "--input '=ops': write KEY=VALUE"),
        (["index", "add", "kb", "NOFILE", "-m", "team"], "--meta 'team': write KEY=VALUE"),
    ],
)
def test_a_bad_key_value_item_exits_1_naming_its_option(tmp_path: Path, command: list[str], says: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(app, [*command, "-c", str(path)])
    assert result.exit_code == 1, result.output
    assert says in " ".join(result.output.split()), result.output
