"""The loopback's image protocols: OpenAI Images API generation and Roboflow's SAM 2 HTTP API.

Deterministic answers, so tests can check them:

* ``POST …/images/generations`` → ``n`` real PNGs of the requested ``size`` (a
  gradient whose colours come from a hash of the prompt and ``seed``), as
  ``b64_json`` or, for ``response_format: url``, a ``data:`` URL;
* ``POST /sam2/embed_image`` → ``{"image_id", "time"}``, counting encoder runs per id;
* ``POST /sam2/segment_image`` → one prediction per prompt: the ellipse inscribed
  in the box (or a circle of radius 20 px around the first positive point) as a
  polygon, ``confidence`` 0.9. An ``image_id`` never embedded is embedded first
  (counted), as the real server does.

Faults (`FaultPlan`) apply to these paths like any other.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from collections import Counter
from typing import Any

from modelyard.testing.protocols.common import ProtocolError, Reply, json_reply

__all__ = ["MediaProtocol", "media_operation"]

_OPS = {"/images/generations": "images", "/sam2/embed_image": "sam2_embed", "/sam2/segment_image": "sam2_segment"}


def media_operation(path: str) -> str | None:
    """The media operation a POST path names, or None."""
    for suffix, op in _OPS.items():
        if path.endswith(suffix):
            return op
    return None


def _png(width: int, height: int, key: bytes) -> bytes:
    import numpy as np
    from PIL import Image

    digest = hashlib.sha256(key).digest()
    a, b = np.array(list(digest[:3]), dtype=np.float32), np.array(list(digest[3:6]), dtype=np.float32)
    t = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    row = a * (1 - t) + b * t
    pixels = np.broadcast_to(row, (height, width, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class MediaProtocol:
    """State for the image endpoints of one loopback (encoder runs per image id)."""

    def __init__(self) -> None:
        self.encoder_runs: Counter[str] = Counter()

    def reply(self, op: str, body: Any, api_key: str | None) -> Reply:
        if not isinstance(body, dict):
            raise ProtocolError(400, "the request body must be a JSON object")
        if op == "images":
            return self._generate(body)
        if api_key is not None and body.get("api_key") != api_key:
            raise ProtocolError(401, "Unauthorized api_key", body={"message": "Unauthorized api_key"})
        image_id = body.get("image_id")
        image = body.get("image")
        if not isinstance(image, dict) or not isinstance(image.get("value"), str):
            raise ProtocolError(422, "image.value is required", body={"detail": "image.value is required"})
        size = _image_size(image["value"])
        image_id = str(image_id or hashlib.sha256(image["value"].encode()).hexdigest()[:32])
        if op == "sam2_embed":
            self.encoder_runs[image_id] += 1
            return json_reply({"image_id": image_id, "time": 0.001})
        if image_id not in self.encoder_runs:
            self.encoder_runs[image_id] += 1
        prompts = ((body.get("prompts") or {}).get("prompts")) or [{}]
        predictions = [{"masks": [_polygon(p, size)], "confidence": 0.9, "format": "polygon"} for p in prompts]
        return json_reply({"predictions": predictions, "time": 0.001})

    def _generate(self, body: dict[str, Any]) -> Reply:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise ProtocolError(400, "prompt is required", "invalid_value")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            raise ProtocolError(400, "n must be 1..10", "invalid_value")
        try:
            width, height = (int(v) for v in str(body.get("size", "256x256")).split("x"))
        except ValueError:
            raise ProtocolError(400, "size must be WIDTHxHEIGHT", "invalid_value") from None
        data = []
        for i in range(n):
            png = base64.b64encode(_png(width, height, f"{prompt}|{body.get('seed')}|{i}".encode())).decode()
            if body.get("response_format") == "url":
                data.append({"url": f"data:image/png;base64,{png}", "revised_prompt": prompt})
            else:
                data.append({"b64_json": png, "revised_prompt": prompt})
        return json_reply({"created": 0, "data": data})


def _image_size(value: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(value))) as im:
            return im.size
    except (OSError, ValueError):
        raise ProtocolError(422, "image.value is not a base64 image", body={"detail": "bad image"}) from None


def _polygon(prompt: dict[str, Any], size: tuple[int, int]) -> list[list[int]]:
    width, height = size
    box = prompt.get("box")
    if isinstance(box, dict):
        cx, cy, rx, ry = box["x"], box["y"], box["width"] / 2, box["height"] / 2
    else:
        points = [p for p in prompt.get("points") or [] if p.get("positive", True)]
        cx, cy = (points[0]["x"], points[0]["y"]) if points else (width / 2, height / 2)
        rx = ry = 20.0
    return [
        [
            min(width - 1, max(0, round(cx + rx * math.cos(2 * math.pi * k / 32)))),
            min(height - 1, max(0, round(cy + ry * math.sin(2 * math.pi * k / 32)))),
        ]
        for k in range(32)
    ]
