"""Per-image token estimates reach the headers (tokens and cost) and the request's record; ``refuse`` refuses.

README (Images): "Per-image token estimates follow each provider's published formula and
appear in records and in the ``x-modelyard-image-tokens`` / ``x-modelyard-image-cost-usd``
headers", and image URLs are "passed through or fetched and inlined
(``media.remote_urls: pass | fetch | refuse``)". A real gateway in front of the loopback
upstream (OpenAI, Anthropic and Gemini protocols over real sockets); one row per provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelyard.telemetry.convert import record_from_trace
from modelyard.testing import LoopbackUpstream
from tests.media.images import data_url, png
from tests.server.server_harness import Gateway, running

PRICE_IN, PRICE_IMAGE = 2.0, 0.01  # USD per 1k input tokens, per image

CONFIG = """
version: 1
models:
  oa: {{family: vlm, provider: openai, base_url: "{url}/v1", {common}}}
  an: {{family: vlm, provider: anthropic, base_url: "{url}", {common}}}
  ge: {{family: vlm, provider: gemini, base_url: "{url}", {common}}}
routers:
  default: {{kind: fixed, target: oa}}
media: {{remote_urls: {policy}}}
"""
COMMON = f"modalities: {{input: [text, image], output: [text]}}, price: {{input: {PRICE_IN}, image: {PRICE_IMAGE}}}"


@pytest.fixture(scope="module")
def gateway(upstream: LoopbackUpstream) -> Iterator[Gateway]:
    with running(CONFIG.format(url=upstream.url, common=COMMON, policy="pass")) as gw:
        yield gw


def _chat(gateway: Gateway, model: str, urls: list[str]) -> httpx.Response:
    content: list[dict[str, Any]] = [{"type": "text", "text": "what is this?"}]
    content += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)


@pytest.mark.parametrize(
    ("model", "formula", "tokens"),
    [
        ("oa", "openai", 765),  # 85 + 170 × 4 tiles of 512
        ("an", "anthropic", 1399),  # width × height / 750
        ("ge", "gemini", 1032),  # 258 per 768-pixel tile, 2 × 2 tiles
    ],
)
def test_image_tokens_and_cost_reach_the_headers_and_the_record(
    gateway: Gateway, model: str, formula: str, tokens: int
) -> None:
    response = _chat(gateway, model, [data_url(png(1024, 1024)), data_url(png(1024, 1024))])
    assert response.status_code == 200, response.text
    assert response.headers["x-modelyard-model"] == model
    assert int(response.headers["x-modelyard-image-tokens"]) == 2 * tokens
    expected = 2 * tokens / 1000 * PRICE_IN + 2 * PRICE_IMAGE
    assert float(response.headers["x-modelyard-image-cost-usd"]) == pytest.approx(expected)
    record = record_from_trace(gateway.traces.items[-1], gateway.engine.config.models, str)
    [event] = [e for e in record.events if e.kind == "images"]
    images = event.data["images"]
    assert len(images) == 2 and all(i["tokens"][formula] == tokens for i in images)
    assert all((i["width"], i["height"]) == (1024, 1024) for i in images)


def test_an_answer_without_images_has_no_image_headers(gateway: Gateway) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "oa", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200
    assert "x-modelyard-image-tokens" not in response.headers
    assert "x-modelyard-image-cost-usd" not in response.headers


@pytest.mark.parametrize(("policy", "status"), [("refuse", 400), ("pass", 200)])
def test_remote_urls_refuse_is_a_400_naming_the_part_and_pass_sends_the_url_on(
    upstream: LoopbackUpstream, policy: str, status: int
) -> None:
    url = "https://93.184.216.34/cat.png"  # a public address: the SSRF guard lets it through, the policy decides
    with running(CONFIG.format(url=upstream.url, common=COMMON, policy=policy)) as gw:
        upstream.clear_requests()
        response = _chat(gw, "oa", [url])
    assert response.status_code == status, response.text
    if status == 400:
        error = response.json()["error"]
        assert error["param"] == "messages[0].content[1].image_url" and "media.remote_urls: refuse" in error["message"]
        assert upstream.requests == []
    else:
        sent = upstream.requests[-1].json()["messages"][0]["content"][1]["image_url"]["url"]
        assert sent == url  # passed on as it is, never fetched by the gateway
