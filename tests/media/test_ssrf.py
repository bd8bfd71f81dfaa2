"""Image URLs pointing inside the network are refused before any connection; allowed ones are fetched with caps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from modelyard.config.media import MediaSettings
from modelyard.errors import RequestError
from modelyard.media.prepare import MediaGate
from modelyard.media.ssrf import UrlGuard
from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, TextPart
from tests.media.images import png


class CountingServer:
    """A real listening socket on 127.0.0.1 that counts accepted connections and serves one PNG."""

    def __init__(self, body: bytes, *, content_type: str = "image/png") -> None:
        self.accepts = 0
        self.body = body
        self.content_type = content_type
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CountingServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepts += 1
            try:
                await reader.readuntil(b"\r\n\r\n")
                head = f"HTTP/1.1 200 OK\r\ncontent-type: {self.content_type}\r\ncontent-length: {len(self.body)}\r\n"
                writer.write(head.encode() + b"connection: close\r\n\r\n" + self.body)
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    async with CountingServer(png(32, 16)) as s:
        yield s


def _request(url: str) -> ChatRequest:
    content = [TextPart(text="describe"), ImagePart(image_url=ImageURL(url=url))]
    return ChatRequest(messages=[Message(role="user", content=content)])


@pytest.mark.parametrize("policy", ["pass", "fetch"])
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "127.1", "[::1]"]
)
async def test_loopback_url_refused_before_any_connection(server: CountingServer, policy: str, host: str) -> None:
    """The issue's example: a listening loopback socket records no accept, under either policy."""
    gate = MediaGate(MediaSettings(remote_urls=policy))  # type: ignore[arg-type]
    with pytest.raises(RequestError) as info:
        await gate.prepare(_request(f"http://{host}:{server.port}/cat.png"))
    assert info.value.param == "messages[0].content[1].image_url"
    assert info.value.code == "image_url_blocked"
    await asyncio.sleep(0.05)
    assert server.accepts == 0


async def test_allow_listed_network_is_fetched_and_inlined(server: CountingServer) -> None:
    """The control: the same URL, allow-listed, does connect (so the test above can fail)."""
    gate = MediaGate(MediaSettings(remote_urls="fetch", allow_networks=["127.0.0.0/8"]))
    request, [fact] = await gate.prepare(_request(f"http://127.0.0.1:{server.port}/cat.png"))
    assert server.accepts == 1
    assert request.images[0].url.startswith("data:image/png;base64,")
    assert (fact.source, fact.width, fact.height) == ("fetched", 32, 16)


async def test_fetch_size_cap(server: CountingServer) -> None:
    gate = MediaGate(MediaSettings(remote_urls="fetch", allow_networks=["127.0.0.0/8"], fetch_max_bytes=40))
    with pytest.raises(RequestError) as info:
        await gate.prepare(_request(f"http://127.0.0.1:{server.port}/cat.png"))
    assert info.value.code == "image_too_large"


async def test_fetch_time_cap() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # never answers; returns when the client gives up and closes
        finally:
            writer.close()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        gate = MediaGate(MediaSettings(remote_urls="fetch", allow_networks=["127.0.0.0/8"], fetch_timeout_s=0.3))
        with pytest.raises(RequestError) as info:
            await gate.prepare(_request(f"http://127.0.0.1:{port}/slow.png"))
        assert info.value.code == "image_fetch_failed" and "0.3s" in str(info.value)
    finally:
        srv.close()
        await srv.wait_closed()


def _resolver(addresses: list[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["93.184.216.34"], False),
        (["2606:2800:220:1:248:1893:25c8:1946"], False),
        (["10.1.2.3"], True),
        (["172.16.0.1"], True),
        (["192.168.1.1"], True),
        (["100.64.0.1"], True),  # CGNAT
        (["169.254.169.254"], True),  # AWS/GCP/Azure metadata
        (["169.254.10.1"], True),  # link-local
        (["fd00:ec2::254"], True),  # AWS metadata over IPv6
        (["fe80::1"], True),
        (["::ffff:10.0.0.1"], True),  # IPv4-mapped private
        (["64:ff9b::a9fe:a9fe"], True),  # NAT64 of 169.254.169.254
        (["0.0.0.0"], True),
        (["224.0.0.1"], True),
        (["93.184.216.34", "127.0.0.1"], True),  # one bad answer among good ones
    ],
)
async def test_a_host_that_resolves_inside_is_refused(addresses: list[str], refused: bool) -> None:
    guard = UrlGuard(resolver=_resolver(addresses))
    if refused:
        with pytest.raises(RequestError) as info:
            await guard.check("https://images.example.com/a.png", param="image")
        assert info.value.code == "image_url_blocked" and "images.example.com" in str(info.value)
    else:
        checked = await guard.check("https://images.example.com/a.png", param="image")
        assert checked.addresses == tuple(addresses)


@pytest.mark.parametrize(
    "url", ["http://metadata.google.internal/computeMetadata/v1/", "http://metadata/", "http://svc.internal/x.png"]
)
async def test_metadata_host_names_refused_without_resolving(url: str) -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a host that should be refused by name")

    with pytest.raises(RequestError) as info:
        await UrlGuard(resolver=never).check(url, param="image")
    assert info.value.code == "image_url_blocked"
