"""Fixtures for the HTTP provider tests: a loopback upstream and providers aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.providers.provider_harness import KEY_ENV, SECRET, MakeProvider, base_url, http_client

from modelyard.config.models import ModelSpec
from modelyard.providers import Provider, ProviderContext, create_provider
from modelyard.testing import LoopbackUpstream


@pytest.fixture
async def upstream() -> AsyncIterator[LoopbackUpstream]:
    async with LoopbackUpstream(api_key=SECRET) as up:
        yield up


@pytest.fixture
async def provider_ctx() -> AsyncIterator[ProviderContext]:
    client = http_client()
    yield ProviderContext(http=client, env={KEY_ENV: SECRET})
    await client.close()


@pytest.fixture
def make_provider(upstream: LoopbackUpstream, provider_ctx: ProviderContext) -> MakeProvider:
    def make(kind: str, **spec: Any) -> Provider:
        fields: dict[str, Any] = {
            "name": f"loop-{kind}",
            "family": "vlm",
            "provider": kind,
            "base_url": base_url(kind, upstream),
            "api_key_env": KEY_ENV,
            "upstream_model": f"{kind}-model-1",
        }
        fields.update(spec)
        return create_provider(ModelSpec(**fields), provider_ctx)

    return make
