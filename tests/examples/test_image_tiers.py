"""examples/image-tiers.yaml through the real gateway: drafts to the few-step model, finals to full diffusion.

Two loopback upstreams speak the OpenAI Images API over real sockets; the official
openai SDK is the client. Each row names the request and the upstream that must answer.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault
from tests.server.server_harness import Gateway, running

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "image-tiers.yaml"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackUpstream, LoopbackUpstream]]:
    with LoopbackUpstream.running_in_thread() as turbo, LoopbackUpstream.running_in_thread() as full:
        yield turbo, full


@pytest.fixture(scope="module")
def gateway(upstreams: tuple[LoopbackUpstream, LoopbackUpstream]) -> Iterator[Gateway]:
    turbo, full = upstreams
    env = {"LCM_TURBO_URL": f"{turbo.url}/v1", "DIFFUSION_URL": f"{full.url}/v1"}
    with running(EXAMPLE.read_text(), env=env) as gw:
        yield gw


@pytest.mark.parametrize(
    ("extra", "headers", "answered_by", "rule"),
    [
        ({"quality": "low"}, {}, "lcm-turbo", "drafts"),
        ({"quality": "draft"}, {}, "lcm-turbo", "drafts"),
        ({"extra_body": {"steps": 4}}, {}, "lcm-turbo", "drafts"),
        ({}, {"x-modelyard-latency-budget-ms": "1500"}, "lcm-turbo", "drafts"),
        ({"quality": "hd"}, {}, "diffusion-full", "finals"),
        ({"quality": "high"}, {}, "diffusion-full", "finals"),
        ({}, {}, "diffusion-full", "finals"),
        ({"extra_body": {"steps": 30}}, {}, "diffusion-full", "finals"),
    ],
)
def test_drafts_go_to_the_few_step_model_and_finals_to_full_diffusion(
    gateway: Gateway,
    upstreams: tuple[LoopbackUpstream, LoopbackUpstream],
    extra: dict[str, Any],
    headers: dict[str, str],
    answered_by: str,
    rule: str,
) -> None:
    turbo, full = upstreams
    turbo.clear_requests()
    full.clear_requests()
    with gateway.client() as client:
        raw = client.images.with_raw_response.generate(
            model="images", prompt="a red fox in snow", size="64x64", extra_headers=headers, **extra
        )
    result = raw.parse()
    assert raw.headers["x-modelyard-model"] == answered_by
    with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or ""))) as im:
        assert im.size == (64, 64)
    hit, idle = (turbo, full) if answered_by == "lcm-turbo" else (full, turbo)
    assert [r.path for r in hit.requests] == ["/v1/images/generations"]
    assert idle.requests == []
    trace = gateway.traces.items[-1]
    assert trace.decision is not None and rule in trace.decision.reason


def test_a_failing_full_model_degrades_to_a_draft(
    gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    full = upstreams[1]
    full.faults.add(Fault(status=503, times=5, path="/v1/images/generations"))
    with gateway.client() as client:
        raw = client.images.with_raw_response.generate(model="images", prompt="a fox", size="32x32", quality="hd")
    assert raw.headers["x-modelyard-model"] == "lcm-turbo"
    assert raw.parse().data[0].b64_json
    full.faults.clear()
