"""Shared fixtures: small configs built from YAML strings."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator

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
