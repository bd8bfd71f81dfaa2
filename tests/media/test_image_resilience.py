"""The image endpoints go through the same breakers and budgets as chat (README: Images).

A real gateway in front of the loopback's OpenAI Images API over a real socket:
a tenant budget that covers one image refuses the second with 402 before any call;
a failing image model opens its breaker, after which requests get 503 + Retry-After
without reaching the upstream.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from modelyard.testing import Fault, LoopbackUpstream
from tests.server.server_harness import running

GEN = "/v1/images/generations"


def _config(url: str, resilience: str) -> str:
    return f"""
version: 1
models:
  painter:
    family: lcm
    provider: openai-images
    base_url: "{url}/v1"
    modalities: {{input: [text], output: [image]}}
    price: {{image: 0.002}}
routers: {{default: {{kind: fixed, target: painter}}}}
resilience:
{resilience}
"""


@pytest.fixture
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread() as up:
        yield up


def _draw(url: str, n: int = 1) -> httpx.Response:
    body = {"model": "painter", "prompt": "a lighthouse at dusk", "size": "32x32", "n": n}
    return httpx.post(f"{url}{GEN}", json=body, headers={"x-modelyard-tenant": "t1"}, timeout=30)


def _calls(up: LoopbackUpstream) -> int:
    return sum(1 for r in up.requests if r.path.endswith(GEN))


def test_a_tenant_budget_refuses_the_image_it_cannot_pay_for(upstream: LoopbackUpstream) -> None:
    with running(_config(upstream.url, '  budgets: {tenants: {"*": {daily_usd: 0.003}}}')) as gateway:
        first, second = _draw(gateway.url), _draw(gateway.url)
    assert first.status_code == 200, first.text
    assert second.status_code == 402, second.text
    assert second.headers["retry-after"].isdigit()  # until the daily window resets
    assert _calls(upstream) == 1  # the refused image was never requested upstream


def test_a_request_for_more_images_than_the_budget_covers_is_refused_before_the_call(
    upstream: LoopbackUpstream,
) -> None:
    """Two images at $0.002 each against $0.003: the worst case counts every image asked for."""
    with running(_config(upstream.url, '  budgets: {tenants: {"*": {daily_usd: 0.003}}}')) as gateway:
        refused = _draw(gateway.url, n=2)
    assert refused.status_code == 402, refused.text
    assert _calls(upstream) == 0


def test_a_failing_image_model_opens_its_breaker(upstream: LoopbackUpstream) -> None:
    upstream.faults.add(Fault(status=500, times=None, path=GEN))
    config = _config(upstream.url, "  retry: {attempts: 1}\n  breaker: {failure_threshold: 2, cooldown_s: 30}")
    with running(config) as gateway:
        failed = [_draw(gateway.url).status_code for _ in range(2)]
        refused = _draw(gateway.url)
    assert failed == [502, 502]
    assert refused.status_code == 503, refused.text
    assert 28 <= int(refused.headers["retry-after"]) <= 30  # the rest of the cool-down
    assert _calls(upstream) == 2  # the open breaker kept the third request off the upstream
