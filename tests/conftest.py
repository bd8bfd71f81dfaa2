"""Shared fixtures: small configs built from YAML strings; under ``CI=true`` a skip is a failure."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from modelyard.config import Config, parse_config

SIM_CONFIG = """
version: 1
models:
  small:
    family: slm
    provider: sim        # SIMULATED
    price: {input: 0.1, output: 0.2}
    latency_p50_ms: 50
    options: {output_tokens: 10}
  big:
    family: llm
    provider: sim        # SIMULATED
    price: {input: 3, output: 15}
    latency_p50_ms: 900
    context_window: 100000
  eyes:
    family: vlm
    provider: sim        # SIMULATED
    modalities: {input: [text, image], output: [text]}
routers:
  default:
    kind: fixed
    target: slm
  to-default:
    kind: fixed
    target: router:default
"""


def make_config(text: str, **kw: object) -> Config:
    return parse_config(textwrap.dedent(text), source="test.yaml", **kw)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep records written by the embedded default's SQLite sink out of the user's home."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


@pytest.fixture
def sim_config() -> Config:
    return make_config(SIM_CONFIG)


# -- CI: a missing dependency fails --------------------------------------------------------------
#
# Every skip in this suite means a dependency is missing (redis-server, PostgreSQL, Chromium and
# Playwright, llama-cpp-python and the SmolLM2 weights, …): fine on a laptop, wrong in CI, where a
# skipped test would let a claim go unchecked while the run stays green. With ``CI=true`` (set by
# GitHub Actions, GitLab and most CI systems) every skip — from ``pytest.skip``, ``importorskip``
# or a ``skipif`` mark, in a test, a fixture or at collection — is reported as a failure that
# keeps the skip's own reason (what is missing and how to install it). xfail is left alone.


def ci_requires_everything() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_instead(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and ci_requires_everything():
        report.outcome = "failed"
        report.longrepr = f"CI=true: a missing dependency fails instead of skipping: {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _fail_instead(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _fail_instead(outcome.get_result())
