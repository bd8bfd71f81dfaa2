"""Shared names for the HTTP provider tests (fixtures live in conftest.py)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable

import httpx

from modelyard.providers import Provider
from modelyard.testing import LoopbackUpstream

#: The fake key the upstream demands; tests assert it never leaks.
SECRET = "sk-test-SECRET-9f8e7d6c5b4a"
KEY_ENV = "LOOPBACK_API_KEY"
KINDS = ("openai", "anthropic", "gemini")

MakeProvider = Callable[..., Provider]


def base_url(kind: str, upstream: LoopbackUpstream) -> str:
    """Each SDK's own convention: OpenAI's base includes /v1, the others' do not."""
    return upstream.url + "/v1" if kind == "openai" else upstream.url


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client() -> httpx.AsyncClient:
    """Like ProviderContext's own client, but sharing one SSL context across tests
    (building one loads the CA bundle, ~50 ms, which would dominate these tests)."""
    return httpx.AsyncClient(verify=_ssl_context(), timeout=httpx.Timeout(60.0, connect=10.0))
