"""``media:`` — how the gateway checks images before any router or model sees them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MediaSettings"]

ImageFormat = Literal["png", "jpeg", "webp", "gif"]
_FORMATS: tuple[ImageFormat, ...] = ("png", "jpeg", "webp", "gif")


class MediaSettings(BaseModel):
    """Image validation and the remote-URL policy (see ``modelyard.media``).

    ``remote_urls``: ``pass`` sends an ``https://`` image URL to the model as is
    (the upstream fetches it), ``fetch`` downloads it here (``fetch_max_bytes``,
    ``fetch_timeout_s``) and inlines it as a ``data:`` URL, ``refuse`` answers 400.
    Under every policy a URL whose host is, or resolves to, a private, loopback,
    link-local, CGNAT, multicast, reserved or cloud-metadata address is refused
    (400) unless the host or address is in ``allow_hosts`` / ``allow_networks``.
    """

    model_config = ConfigDict(extra="forbid")
    max_images: int = Field(default=16, ge=0, description="image parts per request")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="decoded bytes per image")
    max_pixels: int = Field(default=40_000_000, gt=0, description="width × height per image (decompression-bomb cap)")
    max_side: int = Field(default=16384, gt=0, description="longest side in pixels")
    formats: list[ImageFormat] = Field(default_factory=lambda: list(_FORMATS), min_length=1)
    remote_urls: Literal["pass", "fetch", "refuse"] = "pass"
    fetch_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    fetch_timeout_s: float = Field(default=5.0, gt=0, le=120)
    fetch_max_redirects: int = Field(default=3, ge=0, le=10)
    allow_hosts: list[str] = Field(default_factory=list, description="host names exempt from the address check")
    allow_networks: list[str] = Field(
        default_factory=list, description="CIDR blocks exempt from the address check, e.g. 10.1.2.0/24"
    )
