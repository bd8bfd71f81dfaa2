"""`LocalBackend`: one engine in this process; items run as asyncio tasks."""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.batch.dispatch import ItemOutcome, ItemWork, run_item
from modelyard.batch.limits import ConcurrencyCaps
from modelyard.config import Config
from modelyard.engine import Engine
from modelyard.secrets import SecretScrubber

__all__ = ["LocalBackend", "batch_engine"]


def batch_engine(config: Config, caps: Mapping[str, int] | None = None) -> tuple[Engine, SecretScrubber]:
    """An engine for batch work, with per-model concurrency caps on every provider call, and its redactor.

    The caps wrap the innermost call path (below fallbacks, retries and hedges), so a
    fallback to another model takes that model's slot, not the first one's.
    """
    engine = Engine(config)
    if caps:
        if engine.resilience is not None:
            calls = engine.resilience.calls
            calls.inner = ConcurrencyCaps(calls.inner, caps, engine.registry)
        else:
            engine.calls = ConcurrencyCaps(engine.calls, caps, engine.registry)
    redact = SecretScrubber.from_env((s.api_key_env for s in config.models.values()), engine.provider_context.env)
    return engine, redact


class LocalBackend:
    """Run items on one in-process engine, at most ``concurrency`` at once."""

    chunk_size = 1

    def __init__(self, config: Config, *, concurrency: int = 32, caps: Mapping[str, int] | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.capacity = concurrency
        self.engine, self._redact = batch_engine(config, caps)
        self._owns_engine = True

    @classmethod
    def sharing(cls, engine: Engine, redact: SecretScrubber, *, concurrency: int = 16) -> LocalBackend:
        """Run on an engine someone else owns (the gateway's); `aclose` leaves it open."""
        backend = cls.__new__(cls)
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        backend.capacity = concurrency
        backend.engine, backend._redact, backend._owns_engine = engine, redact, False
        return backend

    async def start(self) -> None:
        return None

    async def run(self, works: list[ItemWork]) -> list[ItemOutcome]:
        return [await run_item(self.engine, work, self._redact) for work in works]

    async def aclose(self) -> None:
        if self._owns_engine:
            await self.engine.aclose()

    def describe(self) -> str:
        return f"local (1 engine, {self.capacity} items in flight)"
