"""Retrieval on a real vector index: the `VectorIndex` seam, the embedded default (faiss HNSW + SQLite),
a Chroma server backend, file chunking and named collections. Sits beside encoders and providers;
nothing below imports it."""

from modelyard.retrieval.base import Hit, Metadata, VectorIndex, Where
from modelyard.retrieval.chunking import Chunk, chunk_file, split_text
from modelyard.retrieval.collections import Collections, default_index_dir

__all__ = [
    "Chunk",
    "Collections",
    "Hit",
    "Metadata",
    "VectorIndex",
    "Where",
    "chunk_file",
    "default_index_dir",
    "split_text",
]
