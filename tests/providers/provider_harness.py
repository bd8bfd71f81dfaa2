"""Shared names for the HTTP provider tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from modelyard.providers import Provider
from modelyard.providers.http import new_session
from modelyard.testing import LoopbackUpstream

#: The fake key the upstream demands; tests assert it never leaks.
SECRET = "sk-test-SECRET-9f8e7d6c5b4a"
KEY_ENV = "LOOPBACK_API_KEY"
KINDS = ("openai", "anthropic", "gemini")

MakeProvider = Callable[..., Provider]


def base_url(kind: str, upstream: LoopbackUpstream) -> str:
    """Each SDK's own convention: OpenAI's base includes /v1, the others' do not."""
    return upstream.url + "/v1" if kind == "openai" else upstream.url


def http_client() -> aiohttp.ClientSession:
    """A client of the tests' own, like ProviderContext's (call in a running loop; close it)."""
    return new_session()
