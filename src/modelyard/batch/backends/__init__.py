"""Where batch items run: in this process (`LocalBackend`) or on a Ray cluster (`RayBackend`, lazily)."""

from modelyard.batch.backends.base import BackendLostError, BatchBackend
from modelyard.batch.backends.local import LocalBackend, batch_engine

__all__ = ["BackendLostError", "BatchBackend", "LocalBackend", "batch_engine"]
