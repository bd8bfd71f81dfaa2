"""An API key from the environment never shows in reprs, errors, traces or logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from tests.providers.provider_harness import KINDS, base_url, http_client

from modelyard.config import parse_config
from modelyard.errors import ProviderError
from modelyard.providers import Provider, ProviderContext, create_provider
from modelyard.providers.calls import ModelCalls
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import ChatRequest, Deadline, RequestTrace

#: Deliberately not key-shaped, so only exact-value scrubbing can catch it.
SECRET = "plain-Secret-Value-4242-xyzzy"
REQUEST = ChatRequest.from_text("hello")


@pytest.fixture
async def upstream() -> AsyncIterator[LoopbackUpstream]:
    async with LoopbackUpstream(api_key=SECRET) as up:
        yield up


@pytest.fixture
async def providers(upstream: LoopbackUpstream) -> AsyncIterator[dict[str, Provider]]:
    yaml = "version: 1\nmodels:\n" + "".join(
        f"  m-{kind}:\n    family: llm\n    provider: {kind}\n    base_url: {base_url(kind, upstream)}\n"
        f"    api_key_env: MY_PROVIDER_KEY\n"
        for kind in KINDS
    )
    config = parse_config(yaml)
    client = http_client()
    ctx = ProviderContext(http=client, env={"MY_PROVIDER_KEY": SECRET})
    yield {kind: create_provider(config.models[f"m-{kind}"], ctx) for kind in KINDS}
    await client.close()


async def _errors(provider: Provider, upstream: LoopbackUpstream) -> list[ProviderError]:
    """Provoke a spread of failures, including upstreams that echo what they were sent."""
    upstream.faults.add(
        Fault(status=500, message=f"internal: request had key {SECRET}"),
        Fault(status=429, message=f"slow down {SECRET}", retry_after=1),
        Fault(status=400, message=f"bad: {SECRET}"),
        Fault(malformed_json=True),
        Fault(connection_reset=True),
        Fault(drop_mid_stream=2),
        Fault(error_mid_stream=2, message=f"overloaded for {SECRET}"),
    )
    errors: list[ProviderError] = []
    for stream in (False, False, False, False, False, True, True):
        try:
            if stream:
                async for _ in provider.stream(REQUEST, timeout=5):
                    pass
            else:
                await provider.chat(REQUEST, timeout=5)
        except ProviderError as exc:
            errors.append(exc)
    assert len(errors) == 7
    return errors


@pytest.mark.parametrize("kind", KINDS)
async def test_key_never_leaks(
    kind: str, providers: dict[str, Provider], upstream: LoopbackUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = providers[kind]
    assert (await provider.chat(REQUEST, timeout=5)).text == "echo: hello"  # the key did reach the upstream
    errors = await _errors(provider, upstream)

    texts = [repr(provider), repr(provider.spec), repr(provider.context), str(provider.spec.model_dump())]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [repr(r) for r in upstream.requests]
    texts.append(caplog.text)
    for text in texts:
        assert SECRET not in text
    assert any("[redacted]" in str(e) for e in errors)
    assert all(e.__cause__ is None for e in errors)


async def test_wrong_key_echoed_by_upstream_is_scrubbed(upstream: LoopbackUpstream) -> None:
    """The loopback's OpenAI 401 repeats the key it got, as some servers do."""
    async with LoopbackUpstream(api_key="the-right-key") as strict:
        spec = parse_config(
            f"version: 1\nmodels:\n  m:\n    family: llm\n    provider: openai\n"
            f"    base_url: {strict.url}/v1\n    api_key_env: K\n"
        ).models["m"]
        client = http_client()
        provider = create_provider(spec, ProviderContext(http=client, env={"K": SECRET}))
        with pytest.raises(ProviderError) as info:
            await provider.chat(REQUEST, timeout=5)
        await client.close()
    assert "Incorrect API key provided: [redacted]" in str(info.value)
    assert SECRET not in str(info.value)


async def test_trace_attempts_hold_no_key(providers: dict[str, Provider], upstream: LoopbackUpstream) -> None:
    calls = ModelCalls({p.spec.name: p for p in providers.values()})
    trace = RequestTrace(request_id="r1")
    for kind in KINDS:
        upstream.faults.add(Fault(status=503, message=f"down, key was {SECRET}"))
        with pytest.raises(ProviderError):
            await calls.chat(f"m-{kind}", REQUEST, trace=trace, deadline=Deadline.after(5))
    assert len(trace.attempts) == 3
    assert SECRET not in trace.model_dump_json()
