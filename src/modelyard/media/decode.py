"""Decode and check one image with Pillow: format, dimensions, pixel cap, EXIF orientation, mime.

Every failure is a `RequestError` (HTTP 400) whose ``param`` names the part
(``messages[0].content[1].image_url``) and whose ``code`` says what is wrong:

=========================  ==================================================
code                       meaning
=========================  ==================================================
``invalid_image_url``      not a ``data:image/...;base64,`` URI / bad base64
``invalid_image_mime``     the declared type is not an image type
``image_mime_mismatch``    declared ``image/png`` but the bytes are a JPEG …
``unsupported_image``      a format outside ``media.formats`` (BMP, TIFF, …)
``image_too_large``        more bytes than ``media.max_image_bytes``
``image_too_many_pixels``  width × height over ``media.max_pixels`` (bomb)
``image_too_wide``         a side over ``media.max_side``
``corrupt_image``          truncated or undecodable data
=========================  ==================================================

The pixel cap is checked from the header, before any pixel is decoded, so a
decompression bomb costs a header read; Pillow's own bomb check is turned
into the same error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from modelyard.errors import RequestError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "FORMAT_MIME",
    "DecodedImage",
    "ImageChecks",
    "decode_image",
    "normalise_mime",
    "parse_data_url",
]

#: Pillow format name → the one mime type modelyard writes for it.
FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
#: Common non-canonical spellings → canonical mime.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/jpe": "image/jpeg",
    "image/x-png": "image/png",
    "image/apng": "image/png",
}
_EXIF_ORIENTATION = 0x0112


def normalise_mime(mime: str) -> str:
    """Lower-case, parameters dropped, aliases mapped (``image/jpg`` → ``image/jpeg``)."""
    base = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


@dataclass(frozen=True, slots=True)
class ImageChecks:
    """Limits one image must meet (from ``media:`` in the config)."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 16384
    formats: frozenset[str] = frozenset(FORMAT_MIME)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A checked image. ``data`` is what is sent on (re-encoded only when EXIF rotation was applied).

    ``width``/``height`` are after rotation; ``sha256`` is of ``data``.
    """

    data: bytes
    mime: str
    format: str
    width: int
    height: int
    rotated: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def rgb(self) -> NDArray[np.uint8]:
        """The pixels as an ``(height, width, 3)`` uint8 RGB array."""
        import numpy as np

        with Image.open(io.BytesIO(self.data)) as im:
            rgb = im.convert("RGB")
            # from the raw buffer: np.asarray(image) warns under numpy 2 (PIL's __array__ has no copy=)
            return np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(rgb.height, rgb.width, 3).copy()


def parse_data_url(url: str, *, param: str) -> tuple[str, bytes]:
    """``data:<mime>;base64,<payload>`` → (normalised mime, bytes); 400 naming ``param`` otherwise."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise RequestError(
            "an inline image must be a data:image/<type>;base64,<data> URI", param=param, code="invalid_image_url"
        )
    mime = normalise_mime(head[5 : -len(";base64")])
    if not mime.startswith("image/"):
        raise RequestError(
            f"declared type {mime or '(none)'!r} is not an image type", param=param, code="invalid_image_mime"
        )
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("the image data is not valid base64", param=param, code="invalid_image_url") from None
    return mime, raw


def decode_image(raw: bytes, *, checks: ImageChecks, param: str, declared_mime: str | None = None) -> DecodedImage:
    """Check ``raw`` fully (see the module table) and return it normalised."""
    if len(raw) > checks.max_bytes:
        raise RequestError(
            f"image is {len(raw)} bytes; the limit is {checks.max_bytes}", param=param, code="image_too_large"
        )
    if not raw:
        raise RequestError("image is empty", param=param, code="corrupt_image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(raw))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(param, None, checks) from None
        except (OSError, SyntaxError, ValueError):
            raise RequestError(
                "the data is not an image Pillow can read", param=param, code="unsupported_image"
            ) from None
        with im:
            fmt = im.format or ""
            if fmt not in FORMAT_MIME or fmt not in checks.formats:
                allowed = ", ".join(sorted(f.lower() for f in checks.formats))
                raise RequestError(
                    f"image format {fmt.lower() or 'unknown'!r} is not accepted ({allowed})",
                    param=param,
                    code="unsupported_image",
                )
            mime = FORMAT_MIME[fmt]
            if declared_mime is not None and normalise_mime(declared_mime) != mime:
                raise RequestError(
                    f"declared type {normalise_mime(declared_mime)!r} but the data is {mime}",
                    param=param,
                    code="image_mime_mismatch",
                )
            width, height = im.size
            if width * height > checks.max_pixels:
                raise _bomb(param, (width, height), checks)
            if max(width, height) > checks.max_side:
                raise RequestError(
                    f"image is {width}x{height}; the longest side may be {checks.max_side}",
                    param=param,
                    code="image_too_wide",
                )
            try:
                im.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _bomb(param, (width, height), checks) from None
            except (OSError, SyntaxError, ValueError, EOFError):
                raise RequestError(
                    "the image data is truncated or corrupt", param=param, code="corrupt_image"
                ) from None
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation in (None, 1):
                return DecodedImage(raw, mime, fmt, width, height)
            upright = ImageOps.exif_transpose(im)
            buffer = io.BytesIO()
            save = {"quality": 95} if fmt == "JPEG" else {}
            upright.save(buffer, format=fmt, **save)
            return DecodedImage(buffer.getvalue(), mime, fmt, upright.width, upright.height, rotated=True)


def _bomb(param: str, size: tuple[int, int] | None, checks: ImageChecks) -> RequestError:
    what = f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels" if size else "more pixels than Pillow allows"
    return RequestError(
        f"image is {what}; the limit is {checks.max_pixels} pixels (decompression-bomb guard)",
        param=param,
        code="image_too_many_pixels",
    )
