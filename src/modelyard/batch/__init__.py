"""Batch jobs on the OpenAI Batch API file format: resumable, budgeted, local or on Ray.

`run_batch` runs an input file through the engine into output and error files;
`Checkpoint` makes it resumable after a kill with exactly-once accounting;
`RunOptions` sets the run's budget and what happens when it is reached;
`LocalBackend` runs items in this process (``modelyard.batch.backends.ray``
spreads them over a Ray cluster). ``modelyard batch run|expand|report`` and the
gateway's ``/v1/files`` + ``/v1/batches`` are built on these.
"""

from modelyard.batch import images as _images  # noqa: F401 — registers /v1/images/generations
from modelyard.batch.backends import BackendLostError, BatchBackend, LocalBackend, batch_engine
from modelyard.batch.budget import RunBudget
from modelyard.batch.checkpoint import Checkpoint, CheckpointMismatchError, CheckpointTotals
from modelyard.batch.dispatch import ENDPOINTS, Endpoint, ItemOutcome, ItemWork, register_endpoint, run_item
from modelyard.batch.format import BatchInputError, BatchItem, read_items
from modelyard.batch.job import BatchPaths, BatchResult, run_batch
from modelyard.batch.reserve import Reserver
from modelyard.batch.runner import BatchRunner, RunOptions, RunStats

__all__ = [
    "ENDPOINTS",
    "BackendLostError",
    "BatchBackend",
    "BatchInputError",
    "BatchItem",
    "BatchPaths",
    "BatchResult",
    "BatchRunner",
    "Checkpoint",
    "CheckpointMismatchError",
    "CheckpointTotals",
    "Endpoint",
    "ItemOutcome",
    "ItemWork",
    "LocalBackend",
    "Reserver",
    "RunBudget",
    "RunOptions",
    "RunStats",
    "batch_engine",
    "read_items",
    "register_endpoint",
    "run_batch",
    "run_item",
]
