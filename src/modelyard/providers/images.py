"""What an image really is: its format and size in pixels, read from its first bytes.

Providers check inline images against what their upstream accepts (media
type, bytes, pixels) before sending. The declared media type of a data URI is
often wrong (``image/jpg``, a PNG labelled JPEG); the bytes are the truth, and
Anthropic rejects an image whose bytes disagree with its ``media_type``.
No image library: the headers of PNG, JPEG, GIF and WebP say their size, and
HEIC/HEIF, BMP and TIFF are recognised by their signatures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["MEDIA_TYPE_ALIASES", "ImageInfo", "canonical_media_type", "sniff"]

#: Non-standard names for a standard media type (lossless to rename).
MEDIA_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/jfif": "image/jpeg",
    "image/pjp": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-webp": "image/webp",
}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """``mime`` as the bytes say; ``width``/``height`` in pixels, None when the format's header does not
    say them cheaply (HEIC, TIFF) or the image is cut short."""

    mime: str
    width: int | None = None
    height: int | None = None


def canonical_media_type(mime: str) -> str:
    """``mime`` lower-cased, parameters dropped, aliases (``image/jpg``) renamed to the standard name."""
    base = mime.split(";", 1)[0].strip().lower()
    return MEDIA_TYPE_ALIASES.get(base, base)


def sniff(data: bytes) -> ImageInfo | None:
    """The format (and, where the header holds it, the size) of an encoded image; None if unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return ImageInfo("image/png", width, height)
        return ImageInfo("image/png")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) >= 10:
            width, height = struct.unpack("<HH", data[6:10])
            return ImageInfo("image/gif", width, height)
        return ImageInfo("image/gif")
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"):
            return ImageInfo("image/heic")
        if brand in (b"mif1", b"msf1", b"heif"):
            return ImageInfo("image/heif")
        if brand in (b"avif", b"avis"):
            return ImageInfo("image/avif")
    if data.startswith(b"BM"):
        return ImageInfo("image/bmp")
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageInfo("image/tiff")
    return None


#: JPEG start-of-frame markers (baseline, progressive, lossless …), which carry the size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(data: bytes) -> ImageInfo:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xDA)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageInfo("image/jpeg", width, height)
        i += 2 + length
    return ImageInfo("image/jpeg")


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageInfo("image/webp", width, height)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return ImageInfo("image/webp", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    return ImageInfo("image/webp")
