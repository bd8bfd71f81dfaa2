"""Routing hints stop at the gateway: none reaches a real upstream, in the body or in a header.

The gateway fronts a `LoopbackUpstream` (a real HTTP server that records every
request it receives, headers included) through each HTTP provider (OpenAI,
Anthropic, Gemini wire formats). The official OpenAI SDK sends every hint the
gateway knows — once as ``extra_body={"modelyard": {...}}``, once as
``x-modelyard-*`` headers — for a plain and a streamed chat. The hints must take
effect (the trace carries the hinted tenant) and the upstream must see none of
them: no ``modelyard``/``hints`` key anywhere in the body, no ``x-modelyard-*``
header, and none of the hint values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.server.hints import BODY_KEY, HEADER_HINTS
from modelyard.testing import LoopbackUpstream
from modelyard.types import RoutingHints
from tests.server.server_harness import Gateway, running

KEY = "sk-hints-test-key-5a6b7c"
KINDS = ("openai", "anthropic", "gemini")
USER = [{"role": "user", "content": "name a river"}]

#: One value per hint; strings and numbers chosen so that they cannot occur in a body by chance.
HINTS: dict[str, Any] = {
    "wants_action": True,
    "needs_pixel_mask": True,
    "is_generative_image": True,
    "privacy": "third_party",
    "consent_third_party": True,
    "latency_budget_ms": 29871.5,
    "max_cost_usd": 7.31,
    "tenant": "hint-tenant-zq81",
    "user_id": "hint-user-zq82",
    "volume_per_day": 918273,
    "precision": "high",
}
#: Values whose text would betray a forwarded hint (booleans and enum words are covered by key checks).
MARKERS = ("hint-tenant-zq81", "hint-user-zq82", "29871.5", "7.31", "918273")


def test_the_hint_table_covers_every_routing_hint() -> None:
    """If a hint is added to RoutingHints, this test's HINTS and the header table must follow."""
    assert set(HINTS) == set(RoutingHints.model_fields)
    assert set(HEADER_HINTS.values()) == set(RoutingHints.model_fields)


def _as_header(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


HEADERS = {name.decode(): _as_header(HINTS[field]) for name, field in HEADER_HINTS.items()}


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread(api_key=KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: LoopbackUpstream) -> Iterator[Gateway]:
    models = "".join(
        f"""
  up-{kind}:
    family: llm
    provider: {kind}
    upstream_model: loop-{kind}
    base_url: {upstream.url + "/v1" if kind == "openai" else upstream.url}
    api_key_env: LOOPBACK_KEY
    price: {{input: 0.01, output: 0.02}}  # worst case stays under the hinted max_cost_usd
"""
        for kind in KINDS
    )
    config = f"version: 1\nmodels:{models}routers:\n  default: {{kind: fixed, target: up-openai}}\n"
    with running(config, env={"LOOPBACK_KEY": KEY}) as gw:
        yield gw


def _keys(value: Any) -> set[str]:
    """Every key of every object nested anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("via", ["extra_body", "headers"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_hint_reaches_the_upstream(
    gateway: Gateway, upstream: LoopbackUpstream, kind: str, via: str, stream: bool
) -> None:
    upstream.clear_requests()
    extra: dict[str, Any] = {"extra_body": {BODY_KEY: HINTS}} if via == "extra_body" else {"extra_headers": HEADERS}
    with gateway.client() as client:
        reply = client.chat.completions.create(model=f"up-{kind}", messages=USER, stream=stream, **extra)  # type: ignore[call-overload]
        text = (
            "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
            if stream
            else reply.choices[0].message.content
        )
    assert "name a river" in text  # the upstream answered this very request
    trace = gateway.traces.items[-1]
    assert trace.tenant == HINTS["tenant"]  # the hints were read by the gateway …
    assert trace.answered_by == f"up-{kind}"
    [sent] = upstream.requests  # … and the one upstream request carries none of them
    body = sent.json()
    assert not {BODY_KEY, "hints", *HINTS} & _keys(body), sorted(_keys(body))
    assert not [h for h in sent.headers if h.lower().startswith("x-modelyard")], sorted(sent.headers)
    raw = sent.body.decode() + "\n".join(f"{k}: {v}" for k, v in sent.headers.items())
    assert not [m for m in MARKERS if m in raw]
