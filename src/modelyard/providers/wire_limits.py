"""What each provider's API accepts, checked before the request leaves the gateway.

A request valid in OpenAI's shape can still be one the chosen upstream rejects:
Anthropic refuses whitespace-only stop sequences, ``media_type: image/jpg``,
temperatures above 1 and tool names with dots; Gemini takes at most 5 stop
sequences and no GIFs; OpenAI itself takes at most 4 stop sequences. Each
provider's limits are one `WireLimits` row (`ANTHROPIC`, `GEMINI`, `OPENAI`),
with the documented or observed rule behind each number.

What has a lossless equivalent is normalised (``image/jpg`` → ``image/jpeg``,
a media type that disagrees with the image's bytes → the bytes' type,
duplicate stop sequences dropped); the rest raises `modelyard.errors.RequestError`
(HTTP 400) whose ``param`` names the field in the caller's request
(``stop[0]``, ``messages[1].content[0].image_url``, ``tools[2].function.name``),
before any upstream call.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import NoReturn

from modelyard.errors import RequestError
from modelyard.providers.images import canonical_media_type, sniff
from modelyard.providers.translate import InlineImage, inline_image
from modelyard.types import ChatRequest, ImagePart

__all__ = ["ANTHROPIC", "GEMINI", "OPENAI", "WireLimits", "image_param", "normalised_image", "reject"]

#: Enough of a base64 payload to reach a JPEG's size header behind its EXIF block.
_SNIFF_CHARS = 512 * 1024


@dataclass(frozen=True, slots=True)
class WireLimits:
    """One provider's documented limits on the fields modelyard translates (None: no limit)."""

    provider: str
    max_stop: int | None
    stop_needs_visible: bool  # each stop sequence must contain a non-whitespace character
    max_temperature: float
    image_types: frozenset[str]
    tool_name: re.Pattern[str]
    tool_name_rule: str

    # -- the checks -------------------------------------------------------------

    def stop(self, request: ChatRequest) -> list[str]:
        """The request's stop sequences, duplicates dropped, checked; [] when there are none."""
        raw = request.stop
        if raw is None:
            return []
        single = isinstance(raw, str)
        sequences = [raw] if isinstance(raw, str) else list(raw)
        out: list[str] = []
        for i, seq in enumerate(sequences):
            param = "stop" if single else f"stop[{i}]"
            if self.stop_needs_visible and not seq:
                reject(param, f"{self.provider} does not accept an empty stop sequence")
            if self.stop_needs_visible and not seq.strip():
                reject(
                    param,
                    f"{self.provider} does not accept a whitespace-only stop sequence ({seq!r}); "
                    "use one with a visible character, or none",
                )
            if seq not in out:
                out.append(seq)
        if self.max_stop is not None and len(out) > self.max_stop:
            reject("stop", f"{self.provider} accepts at most {self.max_stop} stop sequences; got {len(out)}")
        return out

    def sampling(self, request: ChatRequest) -> None:
        if request.temperature is not None and request.temperature > self.max_temperature:
            reject(
                "temperature",
                f"{self.provider} accepts temperature 0 to {self.max_temperature:g}; got {request.temperature:g}",
            )

    def tool_names(self, request: ChatRequest) -> None:
        """Function names in ``tools``, in earlier assistant tool calls and in ``tool_choice``."""
        for i, tool in enumerate(request.tools or ()):
            name = (tool.get("function") or {}).get("name") if isinstance(tool, dict) else None
            if isinstance(name, str):
                self._tool_name(name, f"tools[{i}].function.name")
        for i, message in enumerate(request.messages):
            for j, call in enumerate(message.tool_calls or ()):
                name = (call.get("function") or {}).get("name")
                if isinstance(name, str):
                    self._tool_name(name, f"messages[{i}].tool_calls[{j}].function.name")
        choice = request.tool_choice
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if isinstance(name, str):
                self._tool_name(name, "tool_choice.function.name")

    def _tool_name(self, name: str, param: str) -> None:
        if not self.tool_name.fullmatch(name):
            reject(param, f"{self.provider} needs tool names that {self.tool_name_rule}; got {name!r}")

    def image(self, url: str, param: str) -> InlineImage | None:
        """The inline image of a data URI, media type normalised and checked; None for a URL.

        Bytes, pixels and image counts are checked on the call path for every provider
        (`modelyard.media.limits`); this checks what the provider accepts as a type.
        """
        try:
            image = inline_image(url)
        except ValueError as exc:
            reject(param, f"{exc}", code="invalid_value")
        if image is None:
            if not url.startswith(("http://", "https://")):
                reject(param, f"{self.provider} takes images as http(s) URLs or data: URIs; got {url[:40]!r}")
            return None
        declared = canonical_media_type(image.mime_type)
        info = sniff(_head(image.data))
        mime = info.mime if info is not None else declared
        if mime not in self.image_types:
            accepted = ", ".join(sorted(self.image_types))
            said = mime if mime == declared else f"{mime} (declared {image.mime_type})"
            reject(param, f"{self.provider} accepts images of type {accepted}; this one is {said}")
        return InlineImage(mime_type=mime, data=image.data)

    def images(self, request: ChatRequest) -> dict[tuple[int, int], InlineImage | None]:
        """Every image part, checked: (message index, part index) → inline image (None for URLs)."""
        out: dict[tuple[int, int], InlineImage | None] = {}
        for i, message in enumerate(request.messages):
            if not isinstance(message.content, list):
                continue
            for j, part in enumerate(message.content):
                if isinstance(part, ImagePart):
                    out[(i, j)] = self.image(part.image_url.url, image_param(i, j))
        return out


def normalised_image(url: str, message: int, part: int) -> InlineImage | None:
    """A data-URI image with its standard media type (``image/jpg`` → ``image/jpeg``, or the type its
    bytes say), for servers without a list of accepted types; None for an ordinary URL."""
    try:
        image = inline_image(url)
    except ValueError as exc:
        reject(image_param(message, part), str(exc), code="invalid_value")
    if image is None:
        return None
    info = sniff(_head(image.data))
    mime = info.mime if info is not None else canonical_media_type(image.mime_type)
    return InlineImage(mime_type=mime, data=image.data)


def image_param(message: int, part: int) -> str:
    """The caller-facing name of an image part: ``messages[1].content[0].image_url``."""
    return f"messages[{message}].content[{part}].image_url"


def reject(param: str, reason: str, *, code: str = "unsupported_value") -> NoReturn:
    """Raise the 400 for a field the upstream would refuse; the message starts with the field."""
    raise RequestError(f"{param}: {reason}", param=param, code=code)


def _head(data: str) -> bytes:
    """The first bytes of a base64 payload (enough to sniff the format and size)."""
    chunk = data[: _SNIFF_CHARS - _SNIFF_CHARS % 4] if len(data) > _SNIFF_CHARS else data
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return b""


ANTHROPIC = WireLimits(
    provider="anthropic",
    max_stop=None,
    stop_needs_visible=True,  # "stop_sequences: each stop sequence must contain non-whitespace"
    max_temperature=1.0,  # Messages API: temperature 0.0 to 1.0
    image_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    tool_name=re.compile(r"[a-zA-Z0-9_-]{1,128}"),  # "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    tool_name_rule="match ^[a-zA-Z0-9_-]{1,128}$",
)

GEMINI = WireLimits(
    provider="gemini",
    max_stop=5,  # generationConfig.stopSequences: "up to 5"
    stop_needs_visible=False,  # the docs' own example stops on "\n"
    max_temperature=2.0,
    image_types=frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}),
    # FunctionDeclaration.name: start with a letter or underscore; a-z, A-Z, 0-9, _ . : -; at most 64
    tool_name=re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}"),
    tool_name_rule="start with a letter or underscore, use only a-z A-Z 0-9 _ . : - and stay within 64 characters",
)

OPENAI = WireLimits(
    provider="openai",
    max_stop=4,  # "Invalid 'stop': array too long. Expected an array with maximum length 4"
    stop_needs_visible=False,
    max_temperature=2.0,
    image_types=frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
    tool_name=re.compile(r"[a-zA-Z0-9_-]{1,64}"),  # "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'"
    tool_name_rule="match ^[a-zA-Z0-9_-]{1,64}$",
)
