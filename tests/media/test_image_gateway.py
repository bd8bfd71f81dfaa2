"""The image families through the real gateway: OpenAI SDK images.generate, /v1/segmentations, routed chats.

Upstreams are the loopback (OpenAI Images API, SAM 2 HTTP, OpenAI chat) over real
sockets; segmentation by the local classical backend really segments.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image
from pycocotools import mask as coco_mask

from modelyard.testing import LoopbackUpstream
from modelyard.testing.faults import Fault
from modelyard.testing.shapes import scene
from tests.media.images import BAD_GENERATION_BODIES, data_url, encode
from tests.server.server_harness import Gateway, running


def _config(primary: str, backup: str) -> str:
    """The embedded default's routers (rules + packaged classifiers) over loopback and local image models."""
    default = yaml.safe_load(resources.files("modelyard.config.defaults").joinpath("default.yaml").read_text())
    sim = {"provider": "sim", "options": {"output_tokens": 4}}
    models: dict[str, Any] = {
        "sim-slm": {"family": "slm", **sim},
        "sim-llm": {"family": "llm", **sim},
        "sim-moe": {"family": "moe", **sim},
        "sim-lam": {"family": "lam", **sim},
        "sim-mlm": {"family": "mlm", **sim},
        "vlm-loop": {
            "family": "vlm",
            "provider": "openai",
            "base_url": f"{primary}/v1",
            "modalities": {"input": ["text", "image"], "output": ["text"]},
        },
        "lcm-loop": {
            "family": "lcm",
            "provider": "openai-images",
            "base_url": f"{primary}/v1",
            "modalities": {"input": ["text"], "output": ["image"]},
            "price": {"image": 0.002},
        },
        "lcm-backup": {
            "family": "lcm",
            "provider": "openai-images",
            "base_url": f"{backup}/v1",
            "modalities": {"input": ["text"], "output": ["image"]},
            "price": {"image": 0.004},
        },
        "grabcut": {
            "family": "sam",
            "provider": "opencv-grabcut",
            "modalities": {"input": ["text", "image"], "output": ["mask", "text"]},
        },
        "sam2-loop": {
            "family": "sam",
            "provider": "sam2-http",
            "base_url": primary,
            "enabled": True,
            "price": {"image": 0.01},
            "modalities": {"input": ["text", "image"], "output": ["mask", "text"]},
        },
    }
    config = {
        "version": 1,
        "models": models,
        "routers": default["routers"],
        "resilience": {"fallbacks": {"lcm-loop": ["lcm-backup"]}},
        "telemetry": {"enabled": False},
    }
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackUpstream, LoopbackUpstream]]:
    with LoopbackUpstream.running_in_thread() as a, LoopbackUpstream.running_in_thread() as b:
        yield a, b


@pytest.fixture(scope="module")
def gateway(upstreams: tuple[LoopbackUpstream, LoopbackUpstream]) -> Iterator[Gateway]:
    a, b = upstreams
    with running(_config(a.url, b.url)) as gw:
        yield gw


def test_openai_sdk_images_generate_returns_a_decodable_image(gateway: Gateway) -> None:
    with gateway.client() as client:
        result = client.images.generate(
            model="lcm", prompt="a lighthouse at dusk", n=2, size="256x128", extra_body={"seed": 7, "steps": 4}
        )
    assert len(result.data) == 2
    for item in result.data:
        assert item.b64_json is not None
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as im:
            assert im.size == (256, 128) and im.format == "PNG"
    trace = gateway.traces.items[-1]
    assert trace.endpoint == "images" and trace.answered_by == "lcm-loop"
    assert trace.cost_usd == pytest.approx(2 * 0.002)


def test_images_fall_back_when_the_primary_fails(
    gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    a, b = upstreams
    a.faults.add(Fault(status=500, times=1, path="/v1/images/generations"))
    b.clear_requests()
    response = httpx.post(
        f"{gateway.url}/v1/images/generations",
        json={"model": "lcm-loop", "prompt": "a fox", "size": "64x64", "response_format": "url"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"][0]["url"].startswith("data:image/png;base64,")
    assert response.headers["x-modelyard-model"] == "lcm-backup"
    assert [r.path for r in b.requests] == ["/v1/images/generations"]
    trace = gateway.traces.items[-1]
    assert [(x.model, x.status) for x in trace.attempts] == [("lcm-loop", "error"), ("lcm-backup", "ok")]


@pytest.mark.parametrize(("body", "param"), BAD_GENERATION_BODIES)
def test_bad_image_generation_requests_are_400s(gateway: Gateway, body: dict[str, Any], param: str) -> None:
    response = httpx.post(f"{gateway.url}/v1/images/generations", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert param in (response.json()["error"]["param"] or "") + response.json()["error"]["message"]


def _segment(gateway: Gateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/segmentations", json=body, timeout=60)


def test_segmentation_rle_decodes_to_the_image_shape_and_finds_the_object(gateway: Gateway) -> None:
    sc = scene(5)
    body = {"model": "grabcut", "image": data_url(encode(Image.fromarray(sc.rgb))), "boxes": [sc.box]}
    response = _segment(gateway, body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["backend"] == "classical segmentation (GrabCut), not SAM"
    [instance] = out["instances"]
    rle = instance["mask"]
    mask = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
    assert mask.shape == sc.mask.shape == (out["image"]["height"], out["image"]["width"])
    assert instance["area"] == int(mask.sum())
    iou = (mask & sc.mask).sum() / (mask | sc.mask).sum()
    assert iou > 0.9
    with Image.open(io.BytesIO(base64.b64decode(instance["png_b64"]))) as png:
        pixels = np.frombuffer(png.tobytes(), dtype=np.uint8).reshape(png.height, png.width)
        assert np.array_equal(pixels > 0, mask)


def test_sam2_http_encodes_each_image_once(
    gateway: Gateway, upstreams: tuple[LoopbackUpstream, LoopbackUpstream]
) -> None:
    a, _ = upstreams
    a.clear_requests()
    image = data_url(encode(Image.fromarray(scene(9).rgb)))
    for box in ([10, 10, 90, 70], [50, 40, 150, 120], [0, 0, 60, 60]):
        response = _segment(gateway, {"model": "sam2-loop", "image": image, "boxes": [box]})
        assert response.status_code == 200, response.text
        [instance] = response.json()["instances"]
        x, y, w, h = instance["bbox"]
        # the loopback's ellipse fills the box: all four edges within 2 px
        assert abs(x - box[0]) <= 2 and abs(x + w - box[2]) <= 2
        assert abs(y - box[1]) <= 2 and abs(y + h - box[3]) <= 2
    paths = [r.path for r in a.requests]
    assert paths.count("/sam2/embed_image") == 1 and paths.count("/sam2/segment_image") == 3
    assert list(a.media.encoder_runs.values()) == [1]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"image": "data:image/png;base64,AAAA", "boxes": [[0, 0, 5, 5]]}, "image"),
        ({"boxes": [[0, 0, 5, 5]]}, "image"),
        ({"image": "http://169.254.169.254/x.png"}, "image"),
        ({"image": "IMG", "boxes": [[10, 10, 5, 5]]}, "boxes"),
        ({"image": "IMG", "boxes": [[0, 0, 5000, 40]]}, "boxes[0]"),
        ({"image": "IMG", "points": [[1, 2, 3, 4]]}, "points[0]"),
        ({"image": "IMG", "points": [[900, 2]]}, "points[0]"),
    ],
)
def test_bad_segmentation_requests_are_400s(gateway: Gateway, body: dict[str, Any], param: str) -> None:
    if body.get("image") == "IMG":
        body = {**body, "image": data_url(encode(Image.new("RGB", (64, 48))))}
    response = _segment(gateway, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert param in (error["param"] or "") + error["message"], error


def _chat_body(text: str, image: str | None = None, *, stream: bool = False) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": image}})
    return {"model": "default", "messages": [{"role": "user", "content": content}], "stream": stream}


def test_cut_out_chat_with_an_image_routes_to_sam_and_returns_the_mask(gateway: Gateway) -> None:
    sc = scene(2)
    body = _chat_body("Cut out the object in this photo", data_url(encode(Image.fromarray(sc.rgb))))
    with gateway.client() as client:
        completion = client.chat.completions.create(**body)
    ext = completion.model_extra["modelyard"]  # type: ignore[index]
    assert ext["family"] == "sam"
    content = completion.choices[0].message.content
    assert isinstance(content, list)
    parts = [p for p in content if p["type"] == "image_url"]
    assert parts and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    segment = ext["images"][0]["segment"]
    mask = coco_mask.decode({"size": segment["rle"]["size"], "counts": segment["rle"]["counts"].encode()})
    assert mask.shape == sc.mask.shape and segment["area"] == int(mask.sum()) > 0


def test_draw_chat_routes_to_lcm_and_returns_an_image_part(gateway: Gateway) -> None:
    with gateway.client() as client:
        completion = client.chat.completions.create(**_chat_body("Draw me a watercolor fox in the snow"))
    assert completion.model_extra["modelyard"]["family"] == "lcm"  # type: ignore[index]
    content = completion.choices[0].message.content
    assert isinstance(content, list)
    [image] = [p for p in content if p["type"] == "image_url"]
    raw = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as im:
        assert im.format == "PNG"


def test_streaming_chat_with_an_image_routes_to_vlm(gateway: Gateway) -> None:
    image = data_url(encode(Image.new("RGB", (32, 32), (0, 200, 0))))
    with gateway.client() as client:
        stream = client.chat.completions.create(**_chat_body("What colour is this picture?", image, stream=True))
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "[images: 1]" in text  # the loopback VLM saw the image
    assert gateway.traces.items[-1].answered_by == "vlm-loop"
