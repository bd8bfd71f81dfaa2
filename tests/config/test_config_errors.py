"""Bad configurations: one line naming the file, the key path and the reason; nothing started.

Each case is written to a real file and loaded through ``Engine.from_config``,
the way a user meets it; the message is pinned exactly (with the file path).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelyard import Engine
from modelyard.config import parse_config
from modelyard.errors import ConfigError
from modelyard.providers import ProviderContext

M = "models:\n  m: {family: llm, provider: sim}\n"

CASES: list[tuple[str, str, str]] = [
    (
        "unknown key with a suggestion",
        "models:\n  m: {family: llm, provider: sim, pricee: {input: 1}}\n",
        "models.m.pricee: unknown key; did you mean 'price'? allowed: family, provider, upstream_model, "
        "base_url, api_key_env, modalities, context_window, max_output_tokens, price, latency_p50_ms, "
        "privacy, enabled, weight, timeout_s, tags, headers, options, capabilities",
    ),
    (
        "negative price",
        "models:\n  x: {family: llm, provider: sim, price: {input: -1}}\n",
        "models.x.price.input: must be ≥ 0",
    ),
    (
        "bad family",
        "models:\n  m: {family: xxl, provider: sim}\n",
        "models.m.family: must be one of 'slm', 'llm', 'moe', 'mlm', 'vlm', 'lam', 'sam' or 'lcm' "
        "(got 'xxl')",
    ),
    (
        "unknown provider",
        "models:\n  m: {family: llm, provider: azure}\n",
        "models.m.provider: unknown provider 'azure'; expected one of openai, anthropic, gemini, llama-cpp, "
        "onnx-embed, sim, openai-images, sam2-http, opencv-grabcut",
    ),
    (
        "missing environment variable",
        "models:\n  m: {family: llm, provider: openai, base_url: '${MODELYARD_TEST_UNSET_URL}'}\n",
        "models.m.base_url: environment variable MODELYARD_TEST_UNSET_URL is not set "
        "(set it, or write ${MODELYARD_TEST_UNSET_URL:-default})",
    ),
    (
        "duplicate YAML key",
        "models:\n  m: {family: llm, provider: sim}\n  m: {family: slm, provider: sim}\n",
        "invalid YAML at line 3, column 3: duplicate key 'm' (first at line 2)",
    ),
    (
        "YAML syntax error",
        "models:\n  m: {family: llm, provider: sim\n  n: 3\n",
        "invalid YAML at line 3, column 4: expected ',' or '}', but got ':'",
    ),
    (
        "unknown router kind",
        M + "routers:\n  r: {kind: magic}\n",
        "routers.r.kind: unknown router kind 'magic'; one of: …",
    ),
    (
        "router without a kind",
        M + "routers:\n  r: {target: m}\n",
        "routers.r.kind: required key 'kind' is missing; one of: …",
    ),
    (
        "dangling router target",
        M + "routers:\n  r: {kind: rules, rules: [{when: {has_image: true}, target: router:nope}], "
        "default: m}\n",
        "routers.r.rules[0].target: no router named 'nope'",
    ),
    (
        "router cycle",
        M + "routers:\n  a: {kind: fixed, target: router:b}\n  b: {kind: profile, default: [llm, a]}\n",
        "routers.a: router cycle: a → b → a",
    ),
    (
        "name collision with a family",
        "models:\n  llm: {family: llm, provider: sim}\n",
        "models.llm: 'llm' is a family name; pick another so 'model: llm' stays unambiguous",
    ),
    (
        "model and router share a name",
        M + "routers:\n  m: {kind: fixed, target: llm}\n",
        "routers.m: a model of the same name exists; models and routers share one namespace",
    ),
    (
        "bad sim option",
        "models:\n  x: {family: llm, provider: sim, options: {latency_ms: -5}}\n",
        "models.x.options.latency_ms: must be ≥ 0",
    ),
    (
        "unknown sim option",
        "models:\n  x: {family: llm, provider: sim, options: {latency: 5}}\n",
        "models.x.options.latency: unknown key; did you mean 'latency_ms'? allowed: …",
    ),
    ("empty models", "models: {}\n", "models: must not be empty"),
    ("no models at all", "gateway: {port: 8080}\n", "models: required key is missing"),
    ("top level is a list", "- a\n- b\n", "top level must be a mapping with a 'models' key"),
    (
        "unknown gateway default",
        M + "gateway: {default_model: nope}\n",
        "gateway.default_model: 'nope' is not a model or router defined in this file",
    ),
    ("port out of range", M + "gateway: {port: 70000}\n", "gateway.port: must be ≤ 65535"),
    (
        "unknown selection strategy",
        M + "selection: random\n",
        "selection: must be one of 'cheapest', 'fastest' or 'weighted' (got 'random')",
    ),
    (
        "bad model name",
        "models:\n  'bad name!': {family: llm, provider: sim}\n",
        "models.bad name!: names use letters, digits, '.', '_', '/', '-' and start with a letter or digit",
    ),
    (
        "rules router without a default",
        M + "routers:\n  r: {kind: rules, rules: [{when: {tenant: a}, target: m}]}\n",
        "routers.r.default: required key is missing",
    ),
    (
        "unknown custom predicate (found when the engine is built)",
        M + "routers:\n  r: {kind: rules, rules: [{when: {custom: nope}, target: m}], default: m}\n",
        "routers.r.rules[0].when.custom: no custom predicate named 'nope' (register it with "
        "register_predicate before building the engine; known: …",
    ),
    (
        "profile table value out of vocabulary",
        M + "routers:\n  p: {kind: profile, table: [{when: {latency_budget: '<1ms'}, target: m}]}\n",
        "routers.p.table[0].when.latency_budget[0]: must be one of '<50ms', '<500ms' or '<5s' (got '<1ms')",
    ),
]


@pytest.mark.parametrize(("label", "yaml_text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_with_file_key_and_reason(
    tmp_path: Path, label: str, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    context = ProviderContext(env={})
    threads = threading.active_count()
    with pytest.raises(ConfigError) as info:
        Engine.from_config(path, provider_context=context)
    message = str(info.value)
    assert "\n" not in message
    if expected.endswith(" …"):  # the rest lists names other modules may extend
        head = f"{path}: {expected[:-1]}"
        assert message.startswith(head) and len(message) > len(head), label
    else:
        assert message == f"{path}: {expected}", label
    assert info.value.file == str(path)
    # nothing half-started: no HTTP client opened, no background thread left running
    assert context._http is None
    assert threading.active_count() == threads


def test_there_are_at_least_a_dozen_distinct_cases() -> None:
    assert len({expected.split(":")[0] for _, _, expected in CASES}) >= 12


@pytest.mark.parametrize(("label", "yaml_text", "expected"), CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_parse_config_names_its_source(label: str, yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml_text, source="inline.yaml", env={})
    assert str(info.value) == f"inline.yaml: {expected}"
    assert info.value.key == expected.split(": ")[0]


def test_a_valid_engine_does_build(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(M + "routers:\n  r: {kind: rules, rules: [{when: {tenant: a}, target: m}], default: m}\n")
    assert set(Engine.from_config(path).routers) == {"r"}
