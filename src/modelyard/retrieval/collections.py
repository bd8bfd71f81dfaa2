"""Named collections on the configured backend, and the `Retriever` the pipeline's retrieve stages use."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.config.retrieval import RetrievalSettings
from modelyard.retrieval.base import Hit, VectorIndex

__all__ = ["Collections", "default_index_dir"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
DIM = 384  # all-MiniLM-L6-v2, the packaged encoder


def default_index_dir() -> Path:
    """``$XDG_DATA_HOME/modelyard/index`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "modelyard" / "index"


class Collections:
    """Opens collections lazily (one `VectorIndex` each) on the embedded default or on Chroma."""

    def __init__(self, settings: RetrievalSettings, *, dim: int = DIM) -> None:
        self.settings = settings
        self.dim = dim
        self._open: dict[str, VectorIndex] = {}

    def __repr__(self) -> str:
        return f"Collections(backend={self.settings.backend!r})"

    @property
    def root(self) -> Path:
        return default_index_dir() if self.settings.path == "default" else Path(self.settings.path)

    def exists(self, name: str) -> bool:
        if self.settings.backend == "embedded":
            return (self.root / name / "rows.sqlite").exists()
        return True

    def open(self, name: str) -> VectorIndex:
        if not _NAME.match(name):
            raise ValueError(f"collection name {name!r}: use letters, digits, _ and - (at most 63)")
        if name not in self._open:
            if self.settings.backend == "chroma":
                from modelyard.retrieval.chroma import ChromaIndex

                assert self.settings.chroma_url is not None
                self._open[name] = ChromaIndex(self.settings.chroma_url, name, self.dim)
            else:
                from modelyard.retrieval.embedded import EmbeddedIndex

                self._open[name] = EmbeddedIndex(self.root / name, self.dim)
        return self._open[name]

    async def search(self, collection: str, vector: list[float], k: int, where: dict[str, Any]) -> list[dict[str, Any]]:
        """The `Retriever` of pipeline retrieve stages; a missing embedded collection is an error naming it."""
        if not self.exists(collection):
            raise LookupError(f"no collection {collection!r} under {self.root} (build it: modelyard index add)")
        index = self.open(collection)
        hits: list[Hit] = await asyncio.to_thread(index.query, np.asarray(vector, dtype=np.float32), k, where or None)
        return [dict(h) for h in hits]

    def close(self) -> None:
        for index in self._open.values():
            index.close()
        self._open.clear()
