"""Bad images get a clear 400 naming the part, and the upstream is never called (real gateway, real sockets)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from modelyard.testing import LoopbackUpstream
from tests.media.images import bomb_png, data_url, encode, jpeg_rotated, noise_png, png
from tests.server.server_harness import Gateway, running

CONFIG = """
version: 1
models:
  vlm-loop:
    family: vlm
    provider: openai
    base_url: {url}/v1
    modalities: {{input: [text, image], output: [text]}}
  claude-loop:
    family: vlm
    provider: anthropic
    base_url: {url}
    enabled: false
    modalities: {{input: [text, image], output: [text]}}
media:
  max_images: 3
  max_image_bytes: 8000000
  max_side: 9000
routers:
  default: {{kind: fixed, target: vlm}}
telemetry: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def gateway(upstream: LoopbackUpstream) -> Iterator[Gateway]:
    with running(CONFIG.format(url=upstream.url)) as gw:
        yield gw


def _chat(gateway: Gateway, urls: list[str], model: str = "default") -> httpx.Response:
    content: list[dict[str, Any]] = [{"type": "text", "text": "what is this?"}]
    content += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)


_TRUNCATED = png(64, 64)[:-40]
_BMP = encode(Image.new("RGB", (8, 8)), "BMP")
_TIFF = encode(Image.new("RGB", (8, 8)), "TIFF")
_JPEG = encode(Image.new("RGB", (8, 8)), "JPEG")
_WIDE = encode(Image.new("1", (9500, 4), 0))

BAD = [
    # (case, image URLs, param, code)
    ("truncated png", [data_url(_TRUNCATED)], "messages[0].content[1].image_url", "corrupt_image"),
    (
        "declared png, bytes are jpeg",
        [data_url(_JPEG, "image/png")],
        "messages[0].content[1].image_url",
        "image_mime_mismatch",
    ),
    ("not an image mime", [data_url(png(), "text/plain")], "messages[0].content[1].image_url", "invalid_image_mime"),
    ("decompression bomb", [data_url(bomb_png())], "messages[0].content[1].image_url", "image_too_many_pixels"),
    ("too many images", [data_url(png())] * 4, "messages", "too_many_images"),
    ("too many bytes", [data_url(noise_png(1800))], "messages[0].content[1].image_url", "image_too_large"),
    ("unsupported bmp", [data_url(_BMP, "image/bmp")], "messages[0].content[1].image_url", "unsupported_image"),
    ("unsupported tiff", [data_url(_TIFF, "image/tiff")], "messages[0].content[1].image_url", "unsupported_image"),
    ("side too long", [data_url(_WIDE)], "messages[0].content[1].image_url", "image_too_wide"),
    ("bad base64", ["data:image/png;base64,@@@not-base64@@@"], "messages[0].content[1].image_url", "invalid_image_url"),
    ("not base64-encoded", ["data:image/png,rawbytes"], "messages[0].content[1].image_url", "invalid_image_url"),
    (
        "random bytes",
        [data_url(b"\x00\x01not an image at all" * 10)],
        "messages[0].content[1].image_url",
        "unsupported_image",
    ),
    (
        "second image is the bad one",
        [data_url(png()), data_url(_TRUNCATED)],
        "messages[0].content[2].image_url",
        "corrupt_image",
    ),
    ("private-address URL", ["http://10.0.0.7/cat.png"], "messages[0].content[1].image_url", "image_url_blocked"),
    (
        "cloud metadata URL",
        ["http://169.254.169.254/latest/meta-data/"],
        "messages[0].content[1].image_url",
        "image_url_blocked",
    ),
    ("loopback by name", ["http://localhost:9/x.png"], "messages[0].content[1].image_url", "image_url_blocked"),
    ("file scheme", ["file:///etc/passwd"], "messages[0].content[1].image_url", "invalid_image_url"),
]


@pytest.mark.parametrize(("case", "urls", "param", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_image_is_a_400_naming_the_part_and_no_upstream_call(
    gateway: Gateway, upstream: LoopbackUpstream, case: str, urls: list[str], param: str, code: str
) -> None:
    upstream.clear_requests()
    response = _chat(gateway, urls)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error
    assert error["message"]
    assert upstream.requests == []


def test_a_good_image_reaches_the_upstream(gateway: Gateway, upstream: LoopbackUpstream) -> None:
    """The control: the same path with a valid image does call the model."""
    upstream.clear_requests()
    response = _chat(gateway, [data_url(png())])
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1
    assert "[images: 1]" in response.json()["choices"][0]["message"]["content"]


def test_exif_rotation_and_mime_normalised_before_the_call(gateway: Gateway, upstream: LoopbackUpstream) -> None:
    upstream.clear_requests()
    response = _chat(gateway, [data_url(jpeg_rotated(80, 40), "image/jpg")])
    assert response.status_code == 200, response.text
    sent = upstream.requests[0].json()["messages"][0]["content"][1]["image_url"]["url"]
    assert sent.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(sent.split(",", 1)[1]))) as im:
        assert im.size == (40, 80)  # upright: the 80×40 JPEG turned a quarter
        assert im.getexif().get(0x0112, 1) == 1


def test_image_tokens_and_cost_headers_follow_the_provider_formula(gateway: Gateway) -> None:
    response = _chat(gateway, [data_url(png(1024, 1024))])
    assert response.status_code == 200
    assert response.headers["x-modelyard-image-tokens"] == "765"  # OpenAI: 85 + 170 × 4 tiles
    trace = gateway.traces.items[-1]
    [event] = [e for e in trace.events if e.kind == "images"]
    facts = event.data["images"][0]
    assert (facts["width"], facts["height"]) == (1024, 1024)
    assert facts["tokens"] == {"openai": 765, "anthropic": 1399, "gemini": 1032}  # 2×2 tiles of 768


def test_per_provider_limit_is_a_400_before_the_call(upstream: LoopbackUpstream) -> None:
    """Anthropic accepts 5 MB per image; a 5.9 MB PNG is refused naming the part, with no call."""
    config = CONFIG.format(url=upstream.url).replace("enabled: false", "enabled: true")
    with running(config) as gw:
        upstream.clear_requests()
        response = _chat(gw, [data_url(noise_png(1400))], model="claude-loop")
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "messages[0].content[1].image_url" and "5242880" in error["message"]
        assert upstream.requests == []
