"""``${…}`` expansion follows the shell: every row's expected value comes from bash itself.

The loader's rules are those of ``bash -u`` (an unset ``${VAR}`` is an error);
each row runs ``bash -uc 'printf %s "<template>"'`` with the same environment
and compares. Rows bash cannot judge (the ``$${`` escape, malformed
references, masking, URL checks) are tested against written-out expectations.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from modelyard.config.envvars import looks_secret, masked
from modelyard.errors import ConfigError
from tests.conftest import make_config

BASH = shutil.which("bash")
LOOP = "http://127.0.0.1:9/v1"

#: (template, environment). Templates avoid quotes, backslashes and ``$(`` so the
#: same text means the same thing inside bash's double quotes and in YAML.
SHELL_ROWS: list[tuple[str, dict[str, str]]] = [
    # the example: set but empty must take the default (it used to give "")
    ("${UPSTREAM_URL:-" + LOOP + "}", {"UPSTREAM_URL": ""}),
    ("${UPSTREAM_URL:-" + LOOP + "}", {}),
    ("${UPSTREAM_URL:-" + LOOP + "}", {"UPSTREAM_URL": "http://h:8000/v1"}),
    # no colon: the default only when unset
    ("${V-dflt}", {}),
    ("${V-dflt}", {"V": ""}),
    ("${V-dflt}", {"V": "val"}),
    # plain
    ("${V}", {"V": "val"}),
    ("${V}", {"V": ""}),
    ("${V}", {}),  # error under set -u, and in the loader
    # required, with a message
    ("${V:?set V to the vLLM URL}", {}),
    ("${V:?set V to the vLLM URL}", {"V": ""}),
    ("${V:?set V to the vLLM URL}", {"V": "val"}),
    ("${V?set V}", {}),
    ("${V?set V}", {"V": ""}),
    ("${V?set V}", {"V": "val"}),
    ("${V:?}", {"V": ""}),
    # alternative value
    ("${V:+alt}", {}),
    ("${V:+alt}", {"V": ""}),
    ("${V:+alt}", {"V": "val"}),
    ("${V+alt}", {}),
    ("${V+alt}", {"V": ""}),
    ("${V+alt}", {"V": "val"}),
    # empty and odd default words
    ("${V:-}", {}),
    ("${V-}", {"V": ""}),
    ("${V:-a b:c-d?e+f}", {"V": ""}),
    ("${V:-}}", {}),
    ("${V:--x}", {}),
    # nested defaults, expanded only when used (an unset inner variable is no error if unused)
    ("${A:-${B:-x}}", {}),
    ("${A:-${B:-x}}", {"A": "", "B": ""}),
    ("${A:-${B:-x}}", {"A": "", "B": "b"}),
    ("${A:-${B:-x}}", {"A": "a"}),
    ("${A:-${B}}", {"A": "a"}),
    ("${A:-${B}}", {}),
    ("${A:+${B:-inner}}", {"A": "1"}),
    # several references and text around them
    ("http://${H:-localhost}:${P:-8080}/v1", {"P": ""}),
    ("http://${H:-localhost}:${P:-8080}/v1", {"H": "gpu-1", "P": "9000"}),
    ("pre-${V}-post", {"V": ""}),
    ("${A}${B}", {"A": "1", "B": "2"}),
    # no reference at all: left as written
    ("plain } text { 100%", {}),
]


def bash_expand(template: str, env: dict[str, str]) -> str | None:
    """What ``bash -u`` prints for ``template``; None when bash reports an error."""
    assert BASH is not None
    proc = subprocess.run(
        [BASH, "--norc", "--noprofile", "-uc", f'printf %s "{template}"'],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


def load_tag(template: str, env: dict[str, str]) -> str:
    config = make_config(f"models:\n  m: {{family: llm, provider: sim, tags: ['{template}']}}\n", env=env)
    return config.models["m"].tags[0]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize(("template", "env"), SHELL_ROWS, ids=[f"{t} {e}" for t, e in SHELL_ROWS])
def test_expansion_matches_bash(template: str, env: dict[str, str]) -> None:
    expected = bash_expand(template, env)
    if expected is None:
        with pytest.raises(ConfigError) as info:
            load_tag(template, env)
        assert str(info.value).startswith("test.yaml: models.m.tags[0]: environment variable ")
    else:
        assert load_tag(template, env) == expected


@pytest.mark.parametrize(
    ("template", "env", "message"),
    [
        ("${V}", {}, "environment variable V is not set (set it, or write ${V:-default})"),
        ("${V:?set V to the vLLM URL}", {}, "environment variable V is not set: set V to the vLLM URL"),
        ("${V:?set V to the vLLM URL}", {"V": ""}, "environment variable V is empty: set V to the vLLM URL"),
        ("${V?needed}", {}, "environment variable V is not set: needed"),
        ("${V:?}", {"V": ""}, "environment variable V is empty: a value is required"),
        ("${V:?need ${W:-w}}", {}, "environment variable V is not set: need w"),
    ],
)
def test_required_errors_name_file_key_variable_and_message(template: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_tag(template, env)
    assert str(info.value) == f"test.yaml: models.m.tags[0]: {message}"


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("$${V}", {"V": "val"}, "${V}"),  # the escape: a literal ${
        ("$${V:-x} and ${V}", {"V": "val"}, "${V:-x} and val"),
        ("${V:-$${lit}}", {}, "${lit}"),  # escape in a word: word '${lit' ends at the first }, then '}'
        ("${V:-$${lit}}", {"V": "val"}, "val}"),
        ("$V and $$ and $", {"V": "val"}, "$V and $$ and $"),  # only ${…} is expanded
        ("pa$$word", {}, "pa$$word"),
    ],
)
def test_literal_dollar_forms(template: str, env: dict[str, str], expected: str) -> None:
    assert load_tag(template, env) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("${}", "bad substitution '${}': '${' must be followed by a variable name (write '$${' for a literal '${')"),
        ("${1}", "bad substitution '${1}'"),
        ("${A B}", "bad substitution '${A B}': after ${A expected '}'"),
        ("${A:=x}", "bad substitution '${A:=x}'"),
        ("${A#x}", "bad substitution '${A#x}'"),
        ("${A", "unclosed '${A': missing '}'"),
        ("${A:-x", "unclosed '${A:-x': missing '}'"),
        ("${A:-${B:-x}", "unclosed '${A:-${B:-x}': missing '}'"),
    ],
)
def test_malformed_references_are_errors(template: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_tag(template, {"A": "a"})
    assert str(info.value).startswith(f"test.yaml: models.m.tags[0]: {reason}")


def test_references_are_recorded_in_file_order_with_how_they_resolved() -> None:
    config = make_config(
        """
        models:
          m:
            family: llm
            provider: openai
            base_url: ${UPSTREAM_URL:-http://127.0.0.1:9/v1}
            headers: {Authorization: "Bearer ${GW_TOKEN}", X-Team: "${TEAM-}"}
            tags: ["${A:-${B:-x}}"]
        """,
        env={"UPSTREAM_URL": "", "GW_TOKEN": "tok-0123456789", "TEAM": "", "B": ""},
    )
    rows = [(r.key, r.expression, r.shown, r.how, r.empty_from_env) for r in config.env_references]
    assert rows == [
        (
            "models.m.base_url",
            "${UPSTREAM_URL:-http://127.0.0.1:9/v1}",
            "'http://127.0.0.1:9/v1'",
            "default: UPSTREAM_URL is set but empty",
            False,
        ),
        ("models.m.headers.Authorization", "${GW_TOKEN}", "set (14 chars)", "GW_TOKEN is set", False),
        ("models.m.headers.X-Team", "${TEAM-}", "''", "TEAM is set but empty", True),
        ("models.m.tags[0]", "${A:-${B:-x}}", "'x'", "default: A is not set", False),
        ("models.m.tags[0]", "${B:-x}", "'x'", "default: B is set but empty", False),
    ]
    assert config.models["m"].base_url == "http://127.0.0.1:9/v1"
    assert "tok-0123456789" not in repr(config) + repr(config.env_references) + str(config.env_references)
    assert "env_references" not in config.model_dump_json()


@pytest.mark.parametrize(
    ("var", "key", "secret"),
    [
        ("OPENAI_API_KEY", "models.m.base_url", True),
        ("GITHUB_TOKEN", "x", True),
        ("DB_PASSWORD", "x", True),
        ("CLIENT_SECRET", "x", True),
        ("MODELYARD_PG_DSN", "x", True),
        ("HF_AUTH", "x", True),
        ("VLLM_URL", "models.m.base_url", False),
        ("ORG", "models.m.headers.Authorization", True),
        ("ORG", "models.m.headers.x-api-key", True),
        ("ORG", "models.m.options.api_key", True),
        ("ORG", "models.m.options.api_keys[0]", True),
        ("ORG", "models.m.headers.X-Org", False),
        ("KW", "routers.r.rules[0].when.keywords[1]", False),
    ],
)
def test_what_counts_as_secret(var: str, key: str, secret: bool) -> None:
    assert looks_secret(var, key) is secret


@pytest.mark.parametrize(
    ("value", "secret", "shown"),
    [
        ("sk-abcdef123456", True, "set (15 chars)"),
        ("", True, "empty"),
        ("http://h/v1", False, "'http://h/v1'"),
        ("redis://:hunter22@cache:6379/0", False, "'redis://:****@cache:6379/0'"),
        ("postgres://app:pw1@db/x", False, "'postgres://app:****@db/x'"),
        ("", False, "''"),
    ],
)
def test_masked(value: str, secret: bool, shown: str) -> None:
    assert masked(value, secret=secret) == shown


def test_a_secret_reaching_a_value_through_a_default_is_masked() -> None:
    config = make_config(
        "models:\n  m: {family: llm, provider: sim, tags: ['${TEAM:-${TEAM_API_KEY}}']}\n",
        env={"TEAM_API_KEY": "sk-live-000111222"},
    )
    outer, inner = config.env_references
    assert outer.var == "TEAM" and outer.secret and outer.shown == "set (17 chars)"
    assert outer.expression == "${TEAM:-…}"
    assert inner.var == "TEAM_API_KEY" and inner.shown == "set (17 chars)"


URL_BAD = "must be a URL (http:// or https://) such as https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("yaml_value", "env", "error"),
    [
        # the issue: set but empty, no default -> fails at load, naming the variable
        (
            "${VLLM_URL}",
            {"VLLM_URL": ""},
            f"models.m.base_url: {URL_BAD} (got an empty string); ${{VLLM_URL}}: VLLM_URL is set but empty",
        ),
        (
            "${VLLM_URL-http://127.0.0.1:8000/v1}",
            {"VLLM_URL": ""},
            f"models.m.base_url: {URL_BAD} "
            "(got an empty string); ${VLLM_URL-http://127.0.0.1:8000/v1}: VLLM_URL is set but empty",
        ),
        ("''", {}, f"models.m.base_url: {URL_BAD} (got an empty string)"),
        ("localhost:8000/v1", {}, f"models.m.base_url: {URL_BAD} (got 'localhost:8000/v1': scheme 'localhost')"),
        ("127.0.0.1:8000", {}, f"models.m.base_url: {URL_BAD} (got '127.0.0.1:8000': no scheme)"),
        ("http://", {}, f"models.m.base_url: {URL_BAD} (got 'http://': no host)"),
        ("ftp://h/v1", {}, f"models.m.base_url: {URL_BAD} (got 'ftp://h/v1': scheme 'ftp')"),
        ("'http://h:99999/v1'", {}, f"models.m.base_url: {URL_BAD} (got 'http://h:99999/v1': Port out of range"),
        ("' http://h/v1'", {}, f"models.m.base_url: {URL_BAD} (got ' http://h/v1': leading or trailing whitespace)"),
        # a secret that lands in a URL field is masked in the error
        (
            "${VLLM_API_KEY}",
            {"VLLM_API_KEY": "sk-live-abcdef"},
            f"models.m.base_url: {URL_BAD} (got '***': no scheme); ${{VLLM_API_KEY}}: VLLM_API_KEY is set",
        ),
        (
            "http://h/v1\n    upstream_model: '${MODEL_ID}'",
            {"MODEL_ID": ""},
            "models.m.upstream_model: string should have at least 1 character; ${MODEL_ID}: MODEL_ID is set but empty",
        ),
    ],
)
def test_empty_or_malformed_urls_fail_at_load(yaml_value: str, env: dict[str, str], error: str) -> None:
    text = f"models:\n  m:\n    family: llm\n    provider: openai\n    base_url: {yaml_value}\n"
    with pytest.raises(ConfigError) as info:
        make_config(text, env=env)
    assert str(info.value).startswith(f"test.yaml: {error}")
    assert "sk-live-abcdef" not in str(info.value)


@pytest.mark.parametrize(
    ("section", "error"),
    [
        (
            "resilience: {state: {backend: redis, url: '${REDIS_URL}'}}",
            "resilience.state.url: must be a URL (redis:// or rediss:// or unix://) such as redis://127.0.0.1:6379/0 "
            "(got an empty string); ${REDIS_URL}: REDIS_URL is set but empty",
        ),
        (
            "resilience: {state: {backend: redis, url: 'localhost:6379'}}",
            "resilience.state.url: must be a URL (redis:// or rediss:// or unix://)",
        ),
        (
            "telemetry: {tracing: {enabled: true, exporter: otlp, endpoint: '${REDIS_URL}'}}",
            "telemetry.tracing.endpoint: must be a URL (http:// or https://)",
        ),
        ("gateway: {host: '${REDIS_URL}'}", "gateway.host: string should have at least 1 character"),
    ],
)
def test_other_fields_that_need_a_value(section: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(f"models:\n  m: {{family: llm, provider: sim}}\n{section}\n", env={"REDIS_URL": ""})
    assert str(info.value).startswith(f"test.yaml: {error}")


@pytest.mark.parametrize(
    "section",
    [
        "resilience: {state: {backend: redis, url: 'redis://127.0.0.1:6379/0'}}",
        "resilience: {state: {backend: redis, url: 'rediss://:pw@cache.internal:6380/1'}}",
        "resilience: {state: {backend: redis, url: 'unix:///run/redis.sock'}}",
        "telemetry: {tracing: {enabled: true, exporter: otlp, endpoint: 'http://127.0.0.1:4318/v1/traces'}}",
        "gateway: {host: '::1'}",
    ],
)
def test_good_values_load(section: str) -> None:
    make_config(f"models:\n  m: {{family: llm, provider: sim}}\n{section}\n", env={})


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://127.0.0.1:8000/v1/", "https://[::1]:8443/v1"])
def test_good_base_urls_load(url: str) -> None:
    assert (
        make_config(f"models:\n  m: {{family: llm, provider: openai, base_url: '{url}'}}\n").models["m"].base_url == url
    )
