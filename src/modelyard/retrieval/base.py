"""The `VectorIndex` seam: add, query (top-k with metadata filters), delete.

Vectors are unit-length float32 rows (cosine similarity = inner product);
``score`` in a hit is the cosine similarity, higher is closer. Metadata values
are strings, numbers or booleans. A filter (``where``) maps keys to a value
(equality) or to ``{"$in": [values]}`` / ``{"$ne": value}``; several keys must
all match. Every backend passes the same test suite (tests/retrieval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict

import numpy as np
import numpy.typing as npt

__all__ = ["Hit", "Metadata", "VectorIndex", "Where", "check_where", "matches"]

Metadata = dict[str, str | int | float | bool]
Where = Mapping[str, Any]


class Hit(TypedDict):
    id: str
    score: float
    text: str
    metadata: Metadata


class VectorIndex(Protocol):
    """One collection of vectors with ids, texts and metadata."""

    dim: int

    def add(
        self,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Insert or replace (same id) rows. ``vectors``: shape (n, dim)."""
        ...

    def query(self, vector: npt.NDArray[np.float32], k: int, where: Where | None = None) -> list[Hit]:
        """The ``k`` closest rows matching ``where``, closest first."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Remove rows by id; returns how many existed."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def check_where(where: Where | None) -> None:
    """ValueError naming the first filter clause that is not supported."""
    for key, cond in (where or {}).items():
        if isinstance(cond, Mapping):
            if set(cond) - {"$in", "$ne", "$eq"} or len(cond) != 1:
                raise ValueError(f"where.{key}: use a value, {{'$eq': v}}, {{'$ne': v}} or {{'$in': [values]}}")
            if "$in" in cond and not isinstance(cond["$in"], list):
                raise ValueError(f"where.{key}.$in: must be a list")
        elif not isinstance(cond, str | int | float | bool):
            raise ValueError(f"where.{key}: must be a string, number or boolean")


def matches(metadata: Mapping[str, Any], where: Where | None) -> bool:
    for key, cond in (where or {}).items():
        value = metadata.get(key)
        if isinstance(cond, Mapping):
            if "$in" in cond and value not in cond["$in"]:
                return False
            if "$eq" in cond and value != cond["$eq"]:
                return False
            if "$ne" in cond and value == cond["$ne"]:
                return False
        elif value != cond:
            return False
    return True
