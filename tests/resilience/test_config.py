"""Resilience config: good shapes load, bad ones fail at load naming the key path."""

from __future__ import annotations

import textwrap

import pytest

from modelyard.config import Config, parse_config
from modelyard.errors import ConfigError, ErrorKind


def res_config(text: str) -> Config:
    return parse_config(textwrap.dedent(text), source="test.yaml")


MODELS = """
version: 1
models:
  a: {family: slm, provider: sim}
  b: {family: slm, provider: sim}
  c: {family: llm, provider: sim}
routers:
  r: {kind: fixed, target: slm}
  default: {kind: fixed, target: slm}
"""


def test_full_section_loads() -> None:
    config = res_config(
        MODELS
        + """
resilience:
  fallbacks:
    a: [b, family:llm]
    r: {to: [c], when: [timeout, server]}
  fallback_on: [timeout, server, rate_limited, connection, malformed, content_filtered, context_too_long]
  retry: {attempts: 3, base_delay_ms: 10, max_delay_ms: 100, jitter: 0.2, retry_on: [server, timeout]}
  breaker:
    {failure_threshold: 3, failure_rate: 0.5, window_s: 10, min_calls: 4, cooldown_s: 5, half_open_probes: 2}
  breakers: {c: {cooldown_s: 1}}
  limits:
    models: {a: {rpm: 60, tpm: 10000, on_limit: wait}}
    tenants: {"*": {rpm: 10}, acme: {rpm: 100, tpm: 5000}}
  budgets: {tenants: {"*": {daily_usd: 1.5, monthly_usd: 20}}, on_exceeded: cheaper}
  safe_default: {enabled: true, message: "sorry"}
  hedge: {a: {alternative: b, after_quantile: 0.9, after_ms: 200}}
  state: {backend: redis, url: "${REDIS_URL:-redis://127.0.0.1:6379/0}", prefix: my}
"""
    )
    res = config.resilience
    assert res.fallbacks["a"].to == ["b", "family:llm"]
    assert res.fallback_kinds("r") == {ErrorKind.TIMEOUT, ErrorKind.SERVER}
    assert ErrorKind.CONTENT_FILTERED in res.fallback_kinds("a")
    assert res.breaker_for("c").cooldown_s == 1 and res.breaker_for("c").failure_threshold == 3
    assert res.breaker_for("a").cooldown_s == 5
    assert res.limits.models["a"].on_limit == "wait"
    assert res.state.url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [
        ("fallback_on: [timeout, exploded]", "resilience.fallback_on[1]", "must be one of"),
        ("fallbacks: {a: {to: [b], when: [nope]}}", "resilience.fallbacks.a.when[0]", "must be one of"),
        ("retry: {retry_on: [bad_request, server]}", "resilience.retry.retry_on", "must never be retried"),
        ("retry: {retry_on: [auth]}", "resilience.retry.retry_on", "must never be retried"),
        ("retry: {attempts: 0}", "resilience.retry.attempts", "must be ≥ 1"),
        ("limits: {models: {a: {rpm: -5}}}", "resilience.limits.models.a.rpm", "must be > 0"),
        ("limits: {tenants: {acme: {tpm: 0}}}", "resilience.limits.tenants.acme.tpm", "must be > 0"),
        (
            "budgets: {tenants: {acme: {daily_usd: -1}}}",
            "resilience.budgets.tenants.acme.daily_usd",
            "must be ≥ 0",
        ),
        ("breaker: {failure_rate: 1.5}", "resilience.breaker.failure_rate", "must be ≤ 1"),
        ("breaker: {cooldown_s: -1}", "resilience.breaker.cooldown_s", "must be > 0"),
        ("breakers: {a: {half_open_probes: 0}}", "resilience.breakers.a.half_open_probes", "must be ≥ 1"),
        ("fallbacks: {a: [b], b: [c], c: [a]}", "resilience.fallbacks.a", "fallback cycle: a → b → c → a"),
        ("fallbacks: {a: [a]}", "resilience.fallbacks.a.to[0]", "cannot fall back to itself"),
        ("fallbacks: {a: [ghost]}", "resilience.fallbacks.a.to[0]", "'ghost' is not a model"),
        ("fallbacks: {a: [r]}", "resilience.fallbacks.a.to[0]", "'r' is not a model"),
        ("fallbacks: {a: ['family:xlm']}", "resilience.fallbacks.a.to[0]", "unknown family 'xlm'"),
        ("fallbacks: {ghost: [a]}", "resilience.fallbacks.ghost", "not a model or router"),
        ("limits: {models: {ghost: {rpm: 1}}}", "resilience.limits.models.ghost", "not a model"),
        ("hedge: {a: {alternative: ghost}}", "resilience.hedge.a.alternative", "not a model"),
        (
            "hedge: {a: {alternative: b, after_quantile: 1.2}}",
            "resilience.hedge.a.after_quantile",
            "less than 1",
        ),
        ("state: {backend: etcd}", "resilience.state.backend", "must be one of"),
        ("budgets: {on_exceeded: shrug}", "resilience.budgets.on_exceeded", "must be one of"),
        ("retyr: {}", "resilience.retyr", "did you mean 'retry'"),
    ],
)
def test_bad_config_names_the_key(section: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        res_config(MODELS + "resilience:\n  " + section + "\n")
    message = str(info.value)
    assert message.startswith(f"test.yaml: {key}: "), message
    assert reason in message
