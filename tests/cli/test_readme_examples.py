"""The README's library snippet and CLI lines, run as written (README: "The library", "The CLI").

- The library block is cut out of README.md and run in a fresh process on the embedded
  default: it answers with the real SmolLM2, explains the decision, routes a drawing request
  to ``lcm`` and streams.
- ``modelyard config-show > my.yaml`` gives a file ``modelyard validate`` accepts and that
  loads to the embedded default; ``modelyard route … --call`` decides and calls.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from modelyard.config import load_config, load_default_config

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "modelyard.cli"]


def _block(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, f"no python block under {heading!r}"
    return match.group(1)


def test_the_library_snippet_runs_as_written() -> None:
    code = _block("### The library").replace(
        'decision = await engine.route(ChatRequest.from_text("Draw me a fox"))   # decide only',
        'decision = await engine.route(ChatRequest.from_text("Draw me a fox"))   # decide only\n'
        '        print("ROUTE", decision.family.value, decision.model)',
    )
    assert "ROUTE" in code, "the README snippet changed: update this test's probe line"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first, *rest = done.stdout.splitlines()
    assert first.endswith(" smollm2-local 0.0"), first  # text, model, cost: the real local SmolLM2
    out = "\n".join(rest)
    assert "default" in out and "smollm2-local" in out  # the explanation names the path and the model
    assert "ROUTE lcm sim-lcm" in out
    streamed = out.split("ROUTE lcm sim-lcm", 1)[1].strip()
    assert streamed, "nothing was streamed"


def test_config_show_round_trips_through_validate(tmp_path: Path) -> None:
    shown = subprocess.run([*CLI, "config-show"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    mine = tmp_path / "my.yaml"
    mine.write_text(shown.stdout)
    checked = subprocess.run([*CLI, "validate", str(mine)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and checked.stdout.startswith(f"ok {mine}:"), checked.stdout + checked.stderr
    default = load_default_config()
    loaded = load_config(mine)
    assert set(loaded.models) == set(default.models) and set(loaded.routers) == set(default.routers)
    assert loaded.models == default.models


def test_route_call_decides_and_calls(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text(
        "version: 1\nmodels:\n  sim-slm: {family: slm, provider: sim}\n  sim-llm: {family: llm, provider: sim}\n"
        "routers:\n  default: {kind: rules, rules: [{name: summaries, when: {last_user_prefix: 'Summarise'}, "
        "target: slm}], default: llm}\n"
    )
    decided = subprocess.run(
        [*CLI, "route", "Summarise this paragraph: rivers run to the sea", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    called = subprocess.run(
        [*CLI, "route", "Summarise this paragraph: rivers run to the sea", "-c", str(config), "--call"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decided.returncode == 0 and called.returncode == 0, decided.stderr + called.stderr
    assert "sim-slm" in decided.stdout and "echo:" not in decided.stdout  # decided only
    assert "sim-slm (SIMULATED backend)" in called.stdout and "echo: Summarise this paragraph" in called.stdout
