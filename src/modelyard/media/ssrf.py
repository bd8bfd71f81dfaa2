"""Refuse image URLs that point inside the network (SSRF guard), before any connection.

A URL's host is checked as written (literal addresses, including the odd
forms ``getaddrinfo`` accepts such as ``2130706433`` or ``0x7f.1``) and as it
resolves: every address it resolves to must be public. Refused: private
(RFC 1918, ULA ``fc00::/7``), loopback, link-local (``169.254/16``,
``fe80::/10``), CGNAT (``100.64/10``), multicast, reserved, unspecified,
IPv4-mapped/NAT64 forms of any of those, and the cloud metadata endpoints
(``169.254.169.254``, ``fd00:ec2::254``, ``metadata.google.internal`` …).
A host or network in the allow-list skips the check.

`check_url` returns the checked addresses so a fetcher can connect to exactly
those (no DNS rebinding between check and connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelyard.errors import RequestError

__all__ = ["CheckedURL", "Resolver", "UrlGuard", "address_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port → addresses (tests may pass their own; the default is the system resolver)
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "localhost",
        "localhost.localdomain",
    }
)
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is None and address in _NAT64:
            mapped = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if mapped is not None:
            inner = address_refusal(mapped)
            return f"maps to {mapped} ({inner})" if inner else None
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, why in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, test):
            return why
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "carrier-grade NAT (100.64.0.0/10)"
    if address.is_private or not address.is_global:
        return "private"
    return None


async def _system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class CheckedURL:
    """A URL that passed the guard: its parts and the addresses it may be fetched from."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


class UrlGuard:
    """Check image URLs against the address rules and an allow-list."""

    def __init__(
        self,
        *,
        allow_hosts: Sequence[str] = (),
        allow_networks: Sequence[str] = (),
        resolver: Resolver | None = None,
        resolve_timeout_s: float = 2.0,
    ) -> None:
        self.allow_hosts = frozenset(h.lower().rstrip(".") for h in allow_hosts)
        self.allow_networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self._resolve = resolver or _system_resolver
        self._timeout = resolve_timeout_s

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.allow_networks)

    async def check(self, url: str, *, param: str) -> CheckedURL:
        """Return the checked URL or raise `RequestError` (400, ``code`` ``image_url_blocked``)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise RequestError("the image URL is not a valid URL", param=param, code="invalid_image_url") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise RequestError(
                f"image URL scheme {scheme or '(none)'!r} is not allowed; use https or a data: URI",
                param=param,
                code="invalid_image_url",
            )
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise RequestError("the image URL has no host", param=param, code="invalid_image_url")
        if parts.username or parts.password:
            raise RequestError("image URLs may not carry credentials", param=param, code="invalid_image_url")
        port = port or (443 if scheme == "https" else 80)
        if host in self.allow_hosts:
            return CheckedURL(url, scheme, host, port, ())
        if host in _METADATA_HOSTS or host.endswith((".internal", ".localhost", ".local")):
            raise _blocked(param, host, "an internal or metadata host name")
        try:
            async with asyncio.timeout(self._timeout):
                resolved = await self._resolve(host, port)
        except (OSError, TimeoutError, UnicodeError):
            raise RequestError(
                f"image URL host {host!r} does not resolve", param=param, code="invalid_image_url"
            ) from None
        if not resolved:
            raise RequestError(f"image URL host {host!r} does not resolve", param=param, code="invalid_image_url")
        for text in resolved:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if self._allowed(address):
                continue
            why = address_refusal(address)
            if why is not None:
                shown = host if host == str(address) else f"{host} → {address}"
                raise _blocked(param, shown, why)
        return CheckedURL(url, scheme, host, port, tuple(resolved))


def _blocked(param: str, host: str, why: str) -> RequestError:
    return RequestError(
        f"image URL host {host} is {why}; the gateway does not fetch or forward such URLs "
        "(allow it with media.allow_hosts / media.allow_networks)",
        param=param,
        code="image_url_blocked",
    )
