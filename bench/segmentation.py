"""Segmentation latency per image (encode once, N prompts) and the gateway's overhead on image endpoints.

Three measurements, all on 127.0.0.1:

1. local classical backend (GrabCut, not SAM), in process: ``prepare`` (scale +
   denoise: the part a split encoder caches) once per image, then N box prompts;
   per image: prepare ms, ms per prompt, and the total for N prompts with and
   without the cache (without: prepare again for every prompt);
2. SAM 2 HTTP protocol through the gateway to the loopback upstream: the first
   prompt on an image (embed_image + segment_image) against later prompts
   (segment_image only, the embedding cached by image hash);
3. gateway overhead: the same request sent straight to the loopback upstream
   and through the gateway (routing, resilience, validation of the image,
   response shaping), for ``/v1/images/generations`` and ``/v1/segmentations``
   (SAM 2 HTTP, embedding already cached); medians and their ratio, runs
   interleaved so machine noise hits both paths alike.

The loopback's own work is tiny (a gradient PNG, an ellipse polygon), so the
ratios are an upper bound on the relative overhead: a real model takes far
longer than the loopback, the gateway's added milliseconds stay the same.

    .venv/bin/python bench/segmentation.py            # saves bench/results/segmentation.json
    .venv/bin/python bench/segmentation.py --images 5 --prompts 1,4 --requests 50
"""

from __future__ import annotations

import argparse
import base64
import io
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, Run
from modelyard.config import parse_config
from modelyard.engine import Engine
from modelyard.media.grabcut import grabcut, prepare
from modelyard.server import create_app
from modelyard.testing import LoopbackUpstream
from modelyard.testing.shapes import scenes
from modelyard.types import Box

CONFIG = """
version: 1
models:
  lcm-up:
    family: lcm
    provider: openai-images
    base_url: {url}/v1
    modalities: {{input: [text], output: [image]}}
  sam2-up:
    family: sam
    provider: sam2-http
    base_url: {url}
    modalities: {{input: [text, image], output: [mask, text]}}
telemetry: {{enabled: false}}
"""


@contextmanager
def gateway(url: str) -> Iterator[str]:
    import uvicorn

    engine = Engine(parse_config(CONFIG.format(url=url), source="bench.yaml"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), lifespan="on", access_log=False, log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _ms(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000.0


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> None:
    client.post(url, json=body).raise_for_status()


def _boxes(box: list[float], n: int) -> list[Box]:
    x0, y0, x1, y1 = box
    return [Box(x0=max(0.0, x0 - k), y0=max(0.0, y0 - k), x1=x1 + k, y1=y1 + k) for k in range(n)]


def local(images: int, prompts: list[int]) -> list[dict[str, Any]]:
    rows = []
    cases = scenes(images)
    for n in prompts:
        prep, per_prompt, uncached = [], [], []
        for sc in cases:
            started = time.perf_counter()
            prepared = prepare(sc.rgb)
            prep.append((time.perf_counter() - started) * 1000.0)
            per_prompt += [_ms(grabcut, prepared, box) for box in _boxes(sc.box, n)]
            uncached.append(sum(_ms(lambda rgb, b: grabcut(prepare(rgb), b), sc.rgb, box) for box in _boxes(sc.box, n)))
        cached_total = statistics.median(prep) + n * statistics.median(per_prompt)
        rows.append(
            {
                "prompts": n,
                "prepare_ms": statistics.median(prep),
                "per_prompt_ms": statistics.median(per_prompt),
                "per_image_cached_ms": cached_total,
                "per_image_uncached_ms": statistics.median(uncached),
            }
        )
    return rows


def _png_url(seed: int) -> tuple[str, list[float]]:
    sc = scenes(1, start=seed)[0]
    buffer = io.BytesIO()
    Image.fromarray(sc.rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), sc.box


def sam2_cache(gw: str, images: int, prompts: int) -> dict[str, float]:
    first, later = [], []
    with httpx.Client(base_url=gw, timeout=60) as client:
        for i in range(images):
            url, box = _png_url(1000 + i)
            for k in range(prompts):
                body = {"model": "sam2-up", "image": url, "boxes": [[box[0] - k, box[1], box[2], box[3]]]}
                ms = _ms(_post, client, "/v1/segmentations", body)
                (first if k == 0 else later).append(ms)
    return {"first_prompt_ms": statistics.median(first), "later_prompt_ms": statistics.median(later)}


def overhead(up: str, gw: str, requests: int) -> list[dict[str, Any]]:
    url, box = _png_url(7)
    b64 = url.split(",", 1)[1]
    x0, y0, x1, y1 = box
    direct_seg = {
        "image": {"type": "base64", "value": b64},
        "image_id": "bench",
        "format": "json",
        "prompts": {
            "prompts": [{"box": {"x": (x0 + x1) / 2, "y": (y0 + y1) / 2, "width": x1 - x0, "height": y1 - y0}}]
        },
    }
    cases = [
        (
            "images/generations",
            f"{up}/v1/images/generations",
            {"model": "x", "prompt": "a fox", "size": "256x256", "response_format": "b64_json"},
            f"{gw}/v1/images/generations",
            {"model": "lcm-up", "prompt": "a fox", "size": "256x256"},
        ),
        (
            "segmentations (SAM 2 HTTP)",
            f"{up}/sam2/segment_image",
            direct_seg,
            f"{gw}/v1/segmentations",
            {"model": "sam2-up", "image": url, "boxes": [box]},
        ),
    ]
    rows = []
    with httpx.Client(timeout=60) as client:
        for name, d_url, d_body, g_url, g_body in cases:
            for _ in range(3):  # warm both paths (and the gateway's embedding cache)
                _post(client, d_url, d_body)
                _post(client, g_url, g_body)
            direct, through = [], []
            for _ in range(requests):
                direct.append(_ms(_post, client, d_url, d_body))
                through.append(_ms(_post, client, g_url, g_body))
            d, g = statistics.median(direct), statistics.median(through)
            rows.append({"endpoint": name, "direct_ms": d, "gateway_ms": g, "added_ms": g - d, "ratio": g / d})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--prompts", default="1,4,8")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--save", type=Path, default=RESULTS / "segmentation.json")
    args = parser.parse_args()
    prompts = [int(p) for p in args.prompts.split(",")]
    run = Run("segmentation", args.save, {"images": args.images, "prompts": prompts, "requests": args.requests})
    console = Console(width=140)
    rows = local(args.images, prompts)
    table = Table(title="local classical backend (GrabCut, not SAM): per image, prepare once, N prompts")
    for col in ("prompts", "prepare ms", "per prompt ms", "per image, cached ms", "per image, uncached ms"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["prompts"]),
            f"{r['prepare_ms']:.1f}",
            f"{r['per_prompt_ms']:.1f}",
            f"{r['per_image_cached_ms']:.1f}",
            f"{r['per_image_uncached_ms']:.1f}",
        )
    console.print(table)
    with LoopbackUpstream.running_in_thread() as up, gateway(up.url) as gw:
        cache = sam2_cache(gw, args.images, max(prompts))
        console.print(
            f"SAM 2 HTTP via gateway: first prompt on an image {cache['first_prompt_ms']:.2f} ms (embed + segment), "
            f"later prompts {cache['later_prompt_ms']:.2f} ms (embedding cached); "
            f"encoder runs upstream: {sum(up.media.encoder_runs.values())} for {args.images} images"
        )
        over = overhead(up.url, gw, args.requests)
    table = Table(title=f"gateway overhead on image endpoints (median of {args.requests}, loopback upstream)")
    for col in ("endpoint", "direct ms", "via gateway ms", "added ms", "ratio"):
        table.add_column(col, justify="right")
    for r in over:
        table.add_row(
            r["endpoint"],
            f"{r['direct_ms']:.2f}",
            f"{r['gateway_ms']:.2f}",
            f"{r['added_ms']:.2f}",
            f"{r['ratio']:.2f}×",
        )
    console.print(table)
    if (path := run.save({"local": rows, "sam2_cache": cache, "overhead": over})) is not None:
        console.print(f"saved {path}")


if __name__ == "__main__":
    main()
