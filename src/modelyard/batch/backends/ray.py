"""`RayBackend`: spread a batch's items over a Ray cluster, one engine per worker actor.

Needs ``pip install 'modelyard[ray]'``. The process running ``modelyard batch
run --ray …`` stays the run's single coordinator: it alone holds the checkpoint
and the run budget, hands each worker chunks of items with their budget holds
attached, and records what comes back. Workers hold no state that matters, so
the accounting is as exact with 40 workers as with one:

- every item's hold is taken from the budget by the coordinator before the item
  is sent, and the worker's engine enforces it as the request's ``max_cost``;
- results and costs are written by the coordinator, one transaction per group.

A worker that dies mid-chunk (node lost, actor crash) surfaces as
`BackendLostError`: the coordinator counts the chunk's holds as possibly spent
and runs its items again. When the coordinator itself is killed, its actors die
with it (Ray owns them by the driver) and a restart resumes from the checkpoint.

``address``: ``auto`` (the cluster started on this machine by ``ray start``),
``HOST:PORT`` (its GCS address) or ``ray://HOST:PORT`` (Ray Client).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from modelyard.batch.backends.base import BackendLostError
from modelyard.batch.dispatch import ItemOutcome, ItemWork
from modelyard.config import Config
from modelyard.errors import ConfigError

__all__ = ["RayBackend", "ray_available"]

#: Joining through Ray Client is tried this many times when the proxy could not start the client's server.
_JOIN_ATTEMPTS = 3
_TRANSIENT_JOIN = "Starting Ray client server failed"
_HINT = "the Ray backend needs Ray: pip install 'modelyard[ray]'"


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class _Worker:
    """A Ray actor body: one engine; runs a chunk's items concurrently on its event loop."""

    def __init__(self, config: Config, caps: dict[str, int]) -> None:
        from modelyard.batch.backends.local import batch_engine

        self.engine, self.redact = batch_engine(config, caps)

    async def run(self, works: list[ItemWork]) -> list[ItemOutcome]:
        from modelyard.batch.dispatch import run_item

        return list(await asyncio.gather(*(run_item(self.engine, w, self.redact) for w in works)))

    async def where(self) -> tuple[str, int]:
        """(Ray node id, process id) of this worker."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    async def close(self) -> None:
        await self.engine.aclose()


def _spread(workers: int) -> list[Any]:
    """One scheduling strategy per worker: round-robin over the cluster's alive nodes.

    Ray's ``SPREAD`` strategy is best effort, and so is a *soft* node affinity: both
    fell back to one node in CI (4 workers, 2 alive nodes, all on the head; twice in
    four runs). Worker ``i`` is pinned to alive node ``i mod n`` (``soft=False``), so
    the workers spread for certain. A worker whose node dies cannot be restarted
    elsewhere: its calls fail (`BackendLostError`), its chunks run again on the other
    workers, and after ``max_restarts`` failures it gets no more work. Falls back to
    ``SPREAD`` when the node list is unavailable.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        nodes = sorted(str(n["NodeID"]) for n in ray.nodes() if n.get("Alive"))  # type: ignore[no-untyped-call]
    except Exception:  # an old server or a client without the state API: keep Ray's own spreading
        nodes = []
    if not nodes:
        return ["SPREAD"] * workers
    return [NodeAffinitySchedulingStrategy(nodes[i % len(nodes)], soft=False) for i in range(workers)]


class RayBackend:
    """``workers`` actors on the cluster at ``address``; at most ``concurrency`` items in flight overall."""

    def __init__(
        self,
        config: Config,
        *,
        address: str = "auto",
        workers: int = 2,
        concurrency: int = 64,
        caps: Mapping[str, int] | None = None,
        chunk_size: int | None = None,
        max_restarts: int = 3,
    ) -> None:
        if not ray_available():
            raise ConfigError(_HINT)
        if workers < 1 or concurrency < 1:
            raise ValueError("workers and concurrency must be >= 1")
        self.config = config
        self.address = address
        self.workers = workers
        self.capacity = max(concurrency, workers)
        self.chunk_size = chunk_size or max(1, min(32, self.capacity // (2 * workers)))
        self.caps = dict(caps or {})
        self._actors: list[Any] = []
        self._load: list[int] = []
        self._started_ray = False
        self.placement: list[tuple[str, int]] = []
        self.max_restarts = max_restarts
        self._failures: list[int] = []
        self.lost_chunks = 0

    async def start(self) -> None:
        import ray

        if not ray.is_initialized():
            for attempt in range(1, _JOIN_ATTEMPTS + 1):
                try:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                    break
                except Exception as exc:  # no cluster there, Ray Client not installed, …
                    # The Ray Client proxy starts a server process per client; on a busy head that
                    # start can fail once and succeed on the next try. Anything else is final.
                    if attempt < _JOIN_ATTEMPTS and _TRANSIENT_JOIN in str(exc):
                        await asyncio.sleep(2.0 * attempt)
                        continue
                    raise ConfigError(f"--ray {self.address}: cannot join the Ray cluster: {exc}") from None
            self._started_ray = True
        # Per-model caps are per worker: each worker's engine holds its own slots.
        # A crashed worker is restarted by Ray (its engine rebuilt); its chunks in flight come back lost.
        remote = ray.remote(_Worker)
        self._actors = [
            remote.options(num_cpus=0, scheduling_strategy=strategy, max_concurrency=1000,
                           max_restarts=self.max_restarts).remote(self.config, self.caps)
            for strategy in _spread(self.workers)
        ]
        self._load = [0] * self.workers
        self._failures = [0] * self.workers
        self.placement = list(await asyncio.gather(*(a.where.remote() for a in self._actors)))

    async def run(self, works: list[ItemWork]) -> list[ItemOutcome]:
        import ray.exceptions

        usable = [i for i in range(len(self._actors)) if self._failures[i] <= self.max_restarts]
        if not usable:
            raise RuntimeError(f"every Ray worker died more than {self.max_restarts} times; stopping the run")
        i = min(usable, key=self._load.__getitem__)
        self._load[i] += len(works)
        try:
            return list(await self._actors[i].run.remote(works))
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError) as exc:
            self._failures[i] += 1
            self.lost_chunks += 1
            raise BackendLostError(f"Ray worker {i}: {type(exc).__name__}") from exc
        finally:
            self._load[i] -= len(works)

    async def aclose(self) -> None:
        import ray

        if self._actors:
            await asyncio.gather(*(a.close.remote() for a in self._actors), return_exceptions=True)
            for actor in self._actors:
                ray.kill(actor)
            self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def describe(self) -> str:
        nodes = len({node for node, _ in self.placement}) if self.placement else "?"
        return f"ray ({self.workers} workers on {nodes} node(s), {self.capacity} items in flight)"
