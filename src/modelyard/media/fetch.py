"""Fetch a remote image for inlining: guarded, pinned to checked addresses, capped in size and time.

Each hop (the URL and every redirect) passes `UrlGuard.check` first; the
connection goes to the addresses that check returned (a resolver pinned to
them), so a DNS answer that changes between check and connect cannot reach an
internal address. Bodies over ``max_bytes`` are cut off as soon as the limit
is passed; the whole fetch, redirects included, must finish within
``timeout_s``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from modelyard.errors import RequestError
from modelyard.media.ssrf import CheckedURL, UrlGuard

__all__ = ["fetch_image"]


class _PinnedResolver(AbstractResolver):
    """Answer only for the checked host, with the checked addresses."""

    def __init__(self, checked: CheckedURL) -> None:
        self._checked = checked

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if host.lower().rstrip(".") != self._checked.host or not self._checked.addresses:
            raise OSError(f"host {host!r} was not checked")
        results: list[ResolveResult] = []
        for address in self._checked.addresses:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": fam,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


async def fetch_image(
    url: str, *, guard: UrlGuard, param: str, max_bytes: int, timeout_s: float, max_redirects: int = 3
) -> tuple[bytes, str | None]:
    """The body and its content type, or `RequestError` (400) naming ``param``."""
    try:
        async with asyncio.timeout(timeout_s):
            for _ in range(max_redirects + 1):
                checked = await guard.check(url, param=param)
                status, location, body, ctype = await _one(checked, max_bytes, param)
                if status in (301, 302, 303, 307, 308) and location:
                    url = str(URL(url).join(URL(location)))
                    continue
                if status != 200:
                    raise RequestError(
                        f"fetching the image answered HTTP {status}", param=param, code="image_fetch_failed"
                    )
                return body, ctype
            raise RequestError(f"more than {max_redirects} redirects", param=param, code="image_fetch_failed")
    except TimeoutError:
        raise RequestError(
            f"fetching the image took longer than {timeout_s:g}s", param=param, code="image_fetch_failed"
        ) from None


async def _one(checked: CheckedURL, max_bytes: int, param: str) -> tuple[int, str | None, bytes, str | None]:
    kwargs: dict[str, Any] = {}
    if checked.addresses:  # allow-listed hosts resolve normally
        kwargs["resolver"] = _PinnedResolver(checked)
    connector = aiohttp.TCPConnector(force_close=True, **kwargs)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, trust_env=False) as session,
            session.get(checked.url, allow_redirects=False) as response,
        ):
            length = response.content_length
            if length is not None and length > max_bytes:
                raise _too_big(param, max_bytes)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_big(param, max_bytes)
                chunks.append(chunk)
            return response.status, response.headers.get("location"), b"".join(chunks), response.content_type
    except aiohttp.ClientError as exc:
        raise RequestError(
            f"fetching the image failed: {type(exc).__name__}", param=param, code="image_fetch_failed"
        ) from None


def _too_big(param: str, limit: int) -> RequestError:
    return RequestError(f"the remote image is larger than {limit} bytes", param=param, code="image_too_large")
