"""Small images for tests: real PNGs and BMPs of any size, and the first bytes of JPEG, GIF, WebP, HEIC.

PNGs and BMPs are complete and decodable (PNGs 1-bit grayscale, so even 9000
pixels a side stay a few kilobytes). The other formats are their signature and size header
only: enough for anything that reads the format and size, as the loopback and
the providers' checks do, without an image library.
"""

from __future__ import annotations

import base64
import struct
import zlib

__all__ = ["bmp", "data_uri", "gif", "heic", "jpeg", "png", "webp"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid black PNG of ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + bytes((width + 7) // 8)
    pixels = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg(width: int = 1, height: int = 1) -> bytes:
    """A JPEG's start, an APP0 (JFIF) segment and a baseline frame header saying its size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def gif(width: int = 1, height: int = 1) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def webp(width: int = 1, height: int = 1) -> bytes:
    """A lossless (VP8L) WebP header."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(payload)) + b"WEBPVP8L" + struct.pack("<I", len(payload)) + payload


def bmp(width: int = 1, height: int = 1) -> bytes:
    """A valid black 24-bit BMP."""
    row = (width * 3 + 3) // 4 * 4
    pixels = bytes(row * height)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + info + pixels


def heic() -> bytes:
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic"


def data_uri(mime: str, data: bytes) -> str:
    """``data:<mime>;base64,<data>``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
