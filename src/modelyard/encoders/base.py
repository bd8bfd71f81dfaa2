"""The `Encoder` seam: text in, unit-length vectors out.

Routers (classifier, embedding routes, threshold scorers), the `mlm` local
provider and evaluation all embed text through this one interface, so a new
encoder (a bigger ONNX model, a remote embedding endpoint) plugs in once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Encoder", "Vectors"]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed width."""

    @property
    def model_id(self) -> str:
        """Stable id of the weights; caches and trained heads are keyed by it."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        """Return an array of shape ``(len(texts), dim)``; rows have unit norm."""
        ...
