from __future__ import annotations

import pytest

from modelyard.config import load_config, load_default_config
from modelyard.errors import ConfigError
from tests.conftest import make_config

BASE = """
models:
  m:
    family: llm
    provider: openai
    base_url: ${UPSTREAM_URL:-http://127.0.0.1:9/v1}
    api_key_env: SECRET_KEY_VAR
"""


def test_env_interpolation_with_default_and_override() -> None:
    assert make_config(BASE, env={}).models["m"].base_url == "http://127.0.0.1:9/v1"
    cfg = make_config(BASE, env={"UPSTREAM_URL": "http://h/v1"})
    assert cfg.models["m"].base_url == "http://h/v1"


def test_missing_env_var_names_key_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        make_config("models:\n  m: {family: llm, provider: sim, base_url: '${NOPE_URL}'}\n", env={})
    assert str(info.value).startswith("test.yaml: models.m.base_url: environment variable NOPE_URL is not set")


def test_api_key_is_referenced_by_name_never_stored() -> None:
    cfg = make_config(BASE, env={"SECRET_KEY_VAR": "sk-very-secret-value"})
    dumped = cfg.model_dump_json() + repr(cfg) + repr(cfg.models["m"])
    assert "sk-very-secret-value" not in dumped
    assert cfg.models["m"].api_key_env == "SECRET_KEY_VAR"


def test_missing_file_error_names_file(tmp_path: object) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("/nonexistent/modelyard.yaml")
    assert "/nonexistent/modelyard.yaml: cannot read file" in str(info.value)


def test_embedded_default_loads() -> None:
    cfg = load_default_config()
    assert cfg.source.endswith("default.yaml")
    assert cfg.gateway.default_model in cfg.routers or cfg.gateway.default_model in cfg.models
