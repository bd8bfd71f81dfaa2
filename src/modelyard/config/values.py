"""Field types for values that must be usable, not merely strings.

An empty or malformed URL (typically ``${VAR}`` with ``VAR`` set but empty)
fails at load with ``file: key.path: reason`` instead of passing validation and
failing every request later with a DNS or connection error.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

__all__ = ["HttpUrl", "RedisUrl", "check_url"]


def check_url(value: str, schemes: tuple[str, ...], example: str) -> str:
    """``value`` if it is a URL with one of ``schemes`` and a host (``unix`` needs a path); else ``ValueError``."""
    wanted = f"must be a URL ({' or '.join(f'{s}://' for s in schemes)}) such as {example}"
    if not value:
        raise ValueError(f"{wanted} (got an empty string)")
    if value != value.strip():
        raise ValueError(f"{wanted} (got {value!r}: leading or trailing whitespace)")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"{wanted} (got {value!r}: {exc})") from None
    if parts.scheme not in schemes:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"{wanted} (got {value!r}: {got})")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"{wanted} (got {value!r}: no socket path)")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"{wanted} (got {value!r}: no host)")
    return value


def _http(value: str) -> str:
    return check_url(value, ("http", "https"), "https://api.openai.com/v1")


def _redis(value: str) -> str:
    return check_url(value, ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")


#: an ``http://`` or ``https://`` URL with a host
HttpUrl = Annotated[str, AfterValidator(_http)]
#: a ``redis://``, ``rediss://`` or ``unix://`` URL
RedisUrl = Annotated[str, AfterValidator(_redis)]
