"""The ``retrieval:`` section: where vector collections live and which model embeds them.

::

    retrieval:
      backend: embedded            # embedded (the default chosen by measurement, see docs/retrieval.md) | chroma
      path: default                # embedded: $XDG_DATA_HOME/modelyard/index, or a directory
      chroma_url: http://127.0.0.1:8000   # backend: chroma (a `chroma run` server)
      embed_model: mlm             # a model or family that embeds (the MiniLM encoder by default)
      chunk_chars: 800
      chunk_overlap: 100
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RetrievalSettings"]


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["embedded", "chroma"] = "embedded"
    path: str = "default"
    chroma_url: str | None = Field(default=None, pattern=r"^https?://")
    embed_model: str = "mlm"
    chunk_chars: int = Field(default=800, ge=50, le=100_000)
    chunk_overlap: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _check(self) -> RetrievalSettings:
        if self.backend == "chroma" and self.chroma_url is None:
            raise ValueError("backend 'chroma' needs chroma_url")
        if self.chunk_overlap >= self.chunk_chars:
            raise ValueError("chunk_overlap must be smaller than chunk_chars")
        return self
