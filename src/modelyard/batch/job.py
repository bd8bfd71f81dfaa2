"""`run_batch`: a whole batch job from an input file to output and error files.

The one entry point the CLI and the gateway's ``/v1/batches`` share: read and
validate the input, open (or resume) the checkpoint, run the items on a
backend, write the files from the checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelyard.batch.backends.base import BatchBackend
from modelyard.batch.checkpoint import Checkpoint
from modelyard.batch.dispatch import ENDPOINTS
from modelyard.batch.format import file_digest, read_items
from modelyard.batch.report import model_prices
from modelyard.batch.reserve import Reserver
from modelyard.batch.runner import BatchRunner, RunOptions, RunStats, default_paths
from modelyard.config import Config

__all__ = ["BatchPaths", "BatchResult", "run_batch"]


@dataclass(slots=True)
class BatchPaths:
    """Where a job reads and writes; errors and checkpoint default to files beside ``output``."""

    input: Path
    output: Path
    errors: Path
    checkpoint: Path

    @classmethod
    def beside(
        cls, input: Path, output: Path, errors: Path | None = None, checkpoint: Path | None = None
    ) -> BatchPaths:
        default_errors, default_checkpoint = default_paths(output)
        return cls(input, output, errors or default_errors, checkpoint or default_checkpoint)


@dataclass(slots=True)
class BatchResult:
    stats: RunStats
    paths: BatchPaths
    output_lines: int
    error_lines: int


async def run_batch(
    config: Config,
    paths: BatchPaths,
    backend: BatchBackend,
    options: RunOptions | None = None,
    *,
    reserve_calls: float = 4.0,
    item_reserve_usd: float | None = None,
    endpoint: str | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    cancel: asyncio.Event | None = None,
) -> BatchResult:
    """Run (or resume) the job; raises `BatchInputError` for a bad input file, before anything runs.

    ``endpoint``: every line must use this url (a gateway batch). The backend is
    started here and closed before returning.
    """
    data = await asyncio.to_thread(paths.input.read_bytes)
    items = read_items(data, source=str(paths.input), urls=set(ENDPOINTS), endpoint=endpoint)
    digest = await asyncio.to_thread(file_digest, paths.input)
    checkpoint = Checkpoint(paths.checkpoint)
    try:
        checkpoint.set_meta("models", model_prices(config))
        reserver = Reserver(config, reserve_calls=reserve_calls, item_reserve_usd=item_reserve_usd)
        runner = BatchRunner(backend, checkpoint, reserver, options, on_progress=on_progress, cancel=cancel)
        try:
            stats = await runner.run(items, digest)
        finally:
            await backend.aclose()
        out_n, err_n = await asyncio.to_thread(checkpoint.write_files, paths.output, paths.errors)
    finally:
        checkpoint.close()
    return BatchResult(stats, paths, out_n, err_n)
