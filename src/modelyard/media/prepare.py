"""Check and normalise every image part of a request at the edge, before any router sees it.

`MediaGate.prepare` walks ``messages[i].content[j]`` image parts in order:

* ``data:`` URIs are decoded and checked (`modelyard.media.decode`), EXIF
  rotation applied, the mime normalised; the part is rewritten when anything changed;
* ``http(s)`` URLs pass the SSRF guard (`modelyard.media.ssrf`), then per
  ``media.remote_urls``: passed on as they are, fetched and inlined
  (`modelyard.media.fetch`, then decoded and checked like inline data), or refused;
* more than ``media.max_images`` parts is a 400 on ``messages``.

It returns the request (a copy when a part changed) and one `ImageFacts` per
part, with per-provider token estimates (`modelyard.media.tokens`), which the
gateway puts in the request's record and cost headers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard.config.media import MediaSettings
from modelyard.errors import RequestError
from modelyard.media.decode import ImageChecks, decode_image, parse_data_url
from modelyard.media.fetch import fetch_image
from modelyard.media.ssrf import Resolver, UrlGuard
from modelyard.media.tokens import image_tokens
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message

__all__ = ["ImageFacts", "MediaGate"]


@dataclass(slots=True)
class ImageFacts:
    """What the gateway knows about one image part (dimensions are None for a passed-through URL)."""

    param: str
    source: str  # "inline" | "fetched" | "url"
    mime: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    rotated: bool = False
    sha256: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return asdict(self)


class MediaGate:
    """The edge check for images, built once per gateway from ``media:``."""

    def __init__(self, settings: MediaSettings, *, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self.checks = ImageChecks(
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_pixels,
            max_side=settings.max_side,
            formats=frozenset(f.upper() for f in settings.formats),
        )
        self.guard = UrlGuard(
            allow_hosts=settings.allow_hosts, allow_networks=settings.allow_networks, resolver=resolver
        )

    async def prepare(self, request: ChatRequest) -> tuple[ChatRequest, list[ImageFacts]]:
        """The checked request and per-image facts; `RequestError` (400) naming the first bad part."""
        if not request.has_image:
            return request, []
        count = len(request.images)
        if count > self.settings.max_images:
            raise RequestError(
                f"{count} images; the gateway accepts at most {self.settings.max_images} per request",
                param="messages",
                code="too_many_images",
            )
        facts: list[ImageFacts] = []
        messages: list[Message] = []
        changed = False
        for i, message in enumerate(request.messages):
            if not isinstance(message.content, list) or not message.images:
                messages.append(message)
                continue
            parts: list[Any] = []
            for j, part in enumerate(message.content):
                if not isinstance(part, ImagePart):
                    parts.append(part)
                    continue
                param = f"messages[{i}].content[{j}].image_url"
                url, fact = await self.check_url(part.image_url.url, param=param, detail=part.image_url.detail)
                facts.append(fact)
                if url != part.image_url.url:
                    changed = True
                    part = ImagePart(image_url=ImageURL(url=url, detail=part.image_url.detail))
                parts.append(part)
            messages.append(message.model_copy(update={"content": parts}))
        return (request.with_messages(messages) if changed else request), facts

    async def check_url(self, url: str, *, param: str, detail: str | None = None) -> tuple[str, ImageFacts]:
        """One image URL → (the URL to send on, its facts)."""
        if url.startswith("data:"):
            mime, raw = parse_data_url(url, param=param)
            return self._inline(raw, mime, param, "inline", detail, original=url)
        checked = await self.guard.check(url, param=param)
        policy = self.settings.remote_urls
        if policy == "refuse":
            raise RequestError(
                "remote image URLs are not accepted here (media.remote_urls: refuse); send a data: URI",
                param=param,
                code="invalid_image_url",
            )
        if policy == "pass":
            return checked.url, ImageFacts(param=param, source="url")
        raw, ctype = await fetch_image(
            url,
            guard=self.guard,
            param=param,
            max_bytes=min(self.settings.fetch_max_bytes, self.settings.max_image_bytes),
            timeout_s=self.settings.fetch_timeout_s,
            max_redirects=self.settings.fetch_max_redirects,
        )
        declared = ctype if ctype and ctype.startswith("image/") else None
        return self._inline(raw, declared, param, "fetched", detail)

    def decode(self, url: str, *, param: str) -> tuple[bytes, ImageFacts]:
        """A ``data:`` URL → its checked bytes (for endpoints that need the pixels)."""
        mime, raw = parse_data_url(url, param=param)
        image = decode_image(raw, checks=self.checks, param=param, declared_mime=mime)
        return image.data, self._facts(image, param, "inline", None)

    def _inline(
        self,
        raw: bytes,
        declared: str | None,
        param: str,
        source: str,
        detail: str | None,
        *,
        original: str | None = None,
    ) -> tuple[str, ImageFacts]:
        image = decode_image(raw, checks=self.checks, param=param, declared_mime=declared)
        fact = self._facts(image, param, source, detail)
        if original is not None and not image.rotated and original.startswith(f"data:{image.mime};base64,"):
            return original, fact  # unchanged bytes, canonical mime: keep the caller's string
        return image.data_url(), fact

    @staticmethod
    def _facts(image: Any, param: str, source: str, detail: str | None) -> ImageFacts:
        return ImageFacts(
            param=param,
            source=source,
            mime=image.mime,
            width=image.width,
            height=image.height,
            bytes=len(image.data),
            rotated=image.rotated,
            sha256=image.sha256,
            tokens={f: image_tokens(f, image.width, image.height, detail) for f in ("openai", "anthropic", "gemini")},
        )
