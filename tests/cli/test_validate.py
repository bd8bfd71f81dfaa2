"""``modelyard validate`` shows what every ``${…}`` resolved to, secrets masked, and warns on empties."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app

_register_all()
runner = CliRunner()

CONFIG = """
models:
  gpt:
    family: llm
    provider: openai
    base_url: ${OPENAI_BASE_URL:-https://api.openai.com/v1}
    api_key_env: MY_OPENAI_API_KEY
    headers:
      Authorization: "Bearer ${GATEWAY_TOKEN}"
      X-Team: "${TEAM-}"
  local:
    family: slm
    provider: openai
    base_url: ${VLLM_URL:-http://127.0.0.1:8000/v1}
resilience:
  state: {backend: memory, url: "${REDIS_URL:-redis://127.0.0.1:6379/0}"}
"""
KEY = "sk-proj-0123456789abcdef"
TOKEN = "gw-token-9876543210"
REDIS_PW = "hunter2-redis"
BASE_ENV = {"GATEWAY_TOKEN": TOKEN, "MY_OPENAI_API_KEY": KEY}


@pytest.mark.parametrize(
    ("env", "lines", "warnings"),
    [
        (  # the example: set but empty takes the default
            {"OPENAI_BASE_URL": "", "TEAM": "ml"},
            [
                "models.gpt.base_url: ${OPENAI_BASE_URL:-https://api.openai.com/v1} → "
                "'https://api.openai.com/v1' (default: OPENAI_BASE_URL is set but empty)",
                "models.gpt.headers.Authorization: ${GATEWAY_TOKEN} → set (19 chars) (GATEWAY_TOKEN is set)",
                "models.gpt.headers.X-Team: ${TEAM-} → 'ml' (TEAM is set)",
                "models.local.base_url: ${VLLM_URL:-http://127.0.0.1:8000/v1} → "
                "'http://127.0.0.1:8000/v1' (default: VLLM_URL is not set)",
                "resilience.state.url: ${REDIS_URL:-redis://127.0.0.1:6379/0} → "
                "'redis://127.0.0.1:6379/0' (default: REDIS_URL is not set)",
                "models.gpt.api_key_env: MY_OPENAI_API_KEY → set (24 chars) (API key of gpt)",
            ],
            [],
        ),
        (
            {"VLLM_URL": "http://gpu-1:8000/v1", "TEAM": "", "REDIS_URL": f"redis://:{REDIS_PW}@cache:6379/0"},
            [
                "models.gpt.headers.X-Team: ${TEAM-} → '' (TEAM is set but empty)",
                "models.local.base_url: ${VLLM_URL:-http://127.0.0.1:8000/v1} → 'http://gpu-1:8000/v1' "
                "(VLLM_URL is set)",
                "resilience.state.url: ${REDIS_URL:-redis://127.0.0.1:6379/0} → "
                "'redis://:****@cache:6379/0' (REDIS_URL is set)",
            ],
            [
                "models.gpt.headers.X-Team: ${TEAM-}: TEAM is set but empty, so the value is empty "
                "(unset it or write ${TEAM:-default} to use a default)"
            ],
        ),
        (
            {"MY_OPENAI_API_KEY": ""},
            ["models.gpt.api_key_env: MY_OPENAI_API_KEY → empty (API key of gpt)"],
            [
                "models.gpt.api_key_env: MY_OPENAI_API_KEY is set but empty; "
                "the API key of gpt will be missing at run time"
            ],
        ),
    ],
)
def test_validate_prints_resolutions_masked(
    tmp_path: Path, env: dict[str, str], lines: list[str], warnings: list[str]
) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(CONFIG)
    full_env = {**BASE_ENV, **env}
    result = runner.invoke(app, ["validate", str(path)], env=full_env)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0] == f"ok {path}: 2 models, 0 routers"
    assert out[1] == "environment references (5):"
    for line in lines:
        assert f"  {line}" in out, "\n".join(out)
    assert [w.removeprefix(f"warning: {path}: ") for w in result.stderr.splitlines()] == warnings
    for secret in (KEY, TOKEN, REDIS_PW):
        assert secret not in result.output
    strict = runner.invoke(app, ["validate", str(path), "--strict"], env=full_env)
    assert strict.exit_code == (1 if warnings else 0)


def test_validate_fails_at_load_on_an_empty_url(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(CONFIG.replace("${VLLM_URL:-http://127.0.0.1:8000/v1}", "${VLLM_URL}"))
    result = runner.invoke(app, ["validate", str(path)], env={**BASE_ENV, "VLLM_URL": ""})
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        f"error: {path}: models.local.base_url: must be a URL (http:// or https://) such as "
        "https://api.openai.com/v1 (got an empty string); ${VLLM_URL}: VLLM_URL is set but empty"
    )


def test_validate_of_a_required_variable_names_it(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(CONFIG.replace("${GATEWAY_TOKEN}", "${GATEWAY_TOKEN:?create one with modelyard hash-key}"))
    result = runner.invoke(app, ["validate", str(path)], env={"GATEWAY_TOKEN": ""})
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        f"error: {path}: models.gpt.headers.Authorization: environment variable GATEWAY_TOKEN is empty: "
        "create one with modelyard hash-key"
    )
