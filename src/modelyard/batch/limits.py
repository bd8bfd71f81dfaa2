"""Per-model concurrency caps for a batch run: a `CallPath` that wraps the engine's.

Caps are keyed by model name or family name (``writer-top=2``, ``llm=4``). A
family cap is shared by every model of that family; a model under both waits
for both. Every call the engine makes — the answer, a cascade's escalation, a
council's reviews, a judge — goes through the wrapped call path, so the caps
hold whatever the routers do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack

from modelyard.providers.calls import CallPath
from modelyard.registry import Registry
from modelyard.types import ChatRequest, ChatResponse, Deadline, EmbeddingResponse, RequestTrace, StreamChunk

__all__ = ["ConcurrencyCaps", "parse_caps"]


def parse_caps(values: list[str] | None) -> dict[str, int]:
    """``["writer-top=2", "llm=4"]`` → ``{"writer-top": 2, "llm": 4}``; a bad entry raises ValueError naming it."""
    caps: dict[str, int] = {}
    for raw in values or []:
        name, sep, number = raw.partition("=")
        if not sep or not name.strip() or not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"--model-concurrency {raw!r}: expected NAME=N with N >= 1 (a model or family name)")
        caps[name.strip()] = int(number)
    return caps


class ConcurrencyCaps:
    """A `CallPath` over ``inner`` that holds one slot of each cap covering the model per call."""

    def __init__(self, inner: CallPath, caps: Mapping[str, int], registry: Registry) -> None:
        known = set(registry.names()) | {registry.get(n).family.value for n in registry.names()}
        unknown = sorted(set(caps) - known)
        if unknown:
            raise ValueError(f"--model-concurrency names no model or family: {', '.join(unknown)}")
        self.inner = inner
        self._sems = {name: asyncio.Semaphore(n) for name, n in caps.items()}
        self._per_model: dict[str, list[asyncio.Semaphore]] = {}
        for name in registry.names():
            family = registry.get(name).family.value
            self._per_model[name] = [s for key, s in self._sems.items() if key in (name, family)]

    def _stack(self, model: str) -> list[asyncio.Semaphore]:
        return self._per_model.get(model, [])

    async def chat(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> ChatResponse:
        async with AsyncExitStack() as stack:
            for sem in self._stack(model):
                await stack.enter_async_context(sem)
            return await self.inner.chat(model, request, trace=trace, deadline=deadline, purpose=purpose)

    async def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]:
        async with AsyncExitStack() as stack:
            for sem in self._stack(model):
                await stack.enter_async_context(sem)
            async for chunk in self.inner.stream(model, request, trace=trace, deadline=deadline, purpose=purpose):
                yield chunk

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        async with AsyncExitStack() as stack:
            for sem in self._stack(model):
                await stack.enter_async_context(sem)
            return await self.inner.embed(model, texts, trace=trace, deadline=deadline)
