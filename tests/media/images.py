"""Image bytes for tests: real encoded files made with Pillow."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from modelyard.testing.shapes import scene

# An Images API generation body the gateway and the batch runner must both refuse, and the field it names.
BAD_GENERATION_BODIES: list[tuple[dict[str, object], str]] = [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x", "size": "big"}, "size"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "response_format": "png"}, "response_format"),
    ({"prompt": "x", "colour": "red"}, "colour"),
    ({"prompt": "x", "model": 5}, "model"),
]


def encode(image: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return encode(Image.new("RGB", (width, height), colour))


def scene_png(seed: int = 3) -> bytes:
    return encode(Image.fromarray(scene(seed).rgb))


def noise_png(side: int) -> bytes:
    rng = np.random.default_rng(side)
    return encode(Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)))


def jpeg_rotated(width: int = 80, height: int = 40) -> bytes:
    """A JPEG whose EXIF says 'rotate 90° clockwise to display' (orientation 6)."""
    image = Image.new("RGB", (width, height), (10, 120, 240))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes())


def bomb_png(side: int = 10_000) -> bytes:
    """A few-KB 1-bit PNG that decodes to side × side pixels."""
    return encode(Image.new("1", (side, side), 0), optimize=True)


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"
