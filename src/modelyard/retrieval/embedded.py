"""`EmbeddedIndex`: the embedded default — a faiss HNSW graph beside a SQLite table of ids, texts, metadata.

Chosen by measurement (bench/vector_index.py, docs/retrieval.md): faiss-cpu's
HNSW had the best recall@10 and the fastest queries on MiniLM vectors, installs
from wheels (hnswlib compiles from source with -march=native here), and loads
beside onnxruntime (importing usearch before onnxruntime segfaults the process).

Layout of a collection directory: ``rows.sqlite`` (key → id, text, metadata)
and ``vectors.faiss`` (key → vector, inner product on unit vectors), saved after
every change through a temporary file and a rename. faiss's HNSW cannot remove
vectors, so a delete (or a replaced id) leaves a tombstone: the row is gone
from SQLite and the key is skipped; past 25 % tombstones the graph is rebuilt
from the live vectors. Filtered queries search 8·k candidates and keep the
matching ones; when fewer than k match, they score every matching row exactly,
so a filter never loses results to the graph.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard._sqlite import enable_wal
from modelyard.retrieval.base import Hit, Metadata, Where, check_where, matches

__all__ = ["EmbeddedIndex"]

_OVERFETCH = 8


class EmbeddedIndex:
    def __init__(self, directory: str | Path, dim: int) -> None:
        import faiss

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.directory / "rows.sqlite", check_same_thread=False, isolation_level=None)
        enable_wal(self._db)  # several openers at once (gateway workers) must not fail
        self._db.executescript(
            """CREATE TABLE IF NOT EXISTS rows (key INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
                   text TEXT NOT NULL, metadata TEXT NOT NULL);
               CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);"""
        )
        stored = self._db.execute("SELECT value FROM info WHERE name = 'dim'").fetchone()
        if stored is None:
            self._db.execute("INSERT INTO info VALUES ('dim', ?)", (str(dim),))
        elif int(stored[0]) != dim:
            raise ValueError(f"{self.directory}: holds vectors of dimension {stored[0]}, not {dim}")
        self._path = self.directory / "vectors.faiss"
        self._faiss = faiss
        self._index = faiss.read_index(str(self._path)) if self._path.exists() else self._new_index()

    def _new_index(self) -> Any:
        graph = self._faiss.IndexHNSWFlat(self.dim, 16, self._faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = 100
        graph.hnsw.efSearch = 64
        return self._faiss.IndexIDMap2(graph)

    @property
    def _tombstones(self) -> int:
        return int(self._index.ntotal) - self.count()

    def __repr__(self) -> str:
        return f"EmbeddedIndex({str(self.directory)!r}, dim={self.dim})"

    def _save(self) -> None:
        if self._index.ntotal and self._tombstones > 0.25 * self._index.ntotal:
            self._rebuild()
        tmp = self._path.with_suffix(".tmp")
        self._faiss.write_index(self._index, str(tmp))
        os.replace(tmp, self._path)

    def _rebuild(self) -> None:
        keys = np.asarray([k for (k,) in self._db.execute("SELECT key FROM rows")], dtype=np.int64)
        fresh = self._new_index()
        if len(keys):
            fresh.add_with_ids(self._index.reconstruct_batch(keys), keys)
        self._index = fresh

    def add(
        self, ids: Sequence[str], vectors: npt.NDArray[np.float32], texts: Sequence[str], metadatas: Sequence[Metadata]
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(ids):
            raise ValueError(f"vectors must have shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if not (len(ids) == len(texts) == len(metadatas)):
            raise ValueError("ids, texts and metadatas must have the same length")
        with self._lock:
            self._remove(ids)
            self._db.execute("BEGIN")
            keys = []
            for row_id, text, meta in zip(ids, texts, metadatas, strict=True):
                cur = self._db.execute(
                    "INSERT INTO rows (id, text, metadata) VALUES (?, ?, ?)", (row_id, text, json.dumps(meta))
                )
                keys.append(cur.lastrowid)
            self._db.execute("COMMIT")
            if keys:
                self._index.add_with_ids(_normalised(vectors), np.asarray(keys, dtype=np.int64))
            self._save()

    def _remove(self, ids: Sequence[str]) -> int:
        found = self._rows_by_id(ids)
        if not found:
            return 0
        keys = [k for k, _ in found]  # their vectors stay in the graph as tombstones (see module docstring)
        self._db.executemany("DELETE FROM rows WHERE key = ?", [(k,) for k in keys])
        return len(keys)

    def _rows_by_id(self, ids: Sequence[str]) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            out += self._db.execute(f"SELECT key, id FROM rows WHERE id IN ({marks})", part).fetchall()
        return out

    def _rows(self, keys: Sequence[int]) -> dict[int, tuple[str, str, dict[str, Any]]]:
        out: dict[int, tuple[str, str, dict[str, Any]]] = {}
        for start in range(0, len(keys), 500):
            part = [int(k) for k in keys[start : start + 500]]
            marks = ",".join("?" * len(part))
            for key, row_id, text, meta in self._db.execute(
                f"SELECT key, id, text, metadata FROM rows WHERE key IN ({marks})", part
            ):
                out[key] = (row_id, text, json.loads(meta))
        return out

    def query(self, vector: npt.NDArray[np.float32], k: int, where: Where | None = None) -> list[Hit]:
        check_where(where)
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            raise ValueError(f"query vector has dimension {vector.shape[0]}, the index {self.dim}")
        with self._lock:
            size = int(self._index.ntotal)
            if size == 0:
                return []
            wanted = min(size, (k if not where else k * _OVERFETCH) + self._tombstones)
            scores_row, keys_row = self._index.search(_normalised(vector.reshape(1, -1)), wanted)
            pairs = [
                (int(key), float(score)) for key, score in zip(keys_row[0], scores_row[0], strict=True) if key >= 0
            ]
            keys = [key for key, _ in pairs]
            scores = [score for _, score in pairs]
            rows = self._rows(keys)
            hits = [
                Hit(id=rows[key][0], score=round(score, 6), text=rows[key][1], metadata=rows[key][2])
                for key, score in zip(keys, scores, strict=True)
                if key in rows and matches(rows[key][2], where)
            ]
            if where and len(hits) < k and wanted < size:  # the graph's candidates held too few matches
                hits = self._exact_filtered(vector, k, where)
            return hits[:k]

    def _exact_filtered(self, vector: npt.NDArray[np.float32], k: int, where: Where) -> list[Hit]:
        rows = [
            (key, row_id, text, meta)
            for key, row_id, text, raw in self._db.execute("SELECT key, id, text, metadata FROM rows")
            if matches(meta := json.loads(raw), where)
        ]
        if not rows:
            return []
        matrix = self._index.reconstruct_batch(np.asarray([r[0] for r in rows], dtype=np.int64))
        scores = matrix @ _normalised(vector.reshape(1, -1))[0]
        order = np.argsort(-scores)[:k]
        return [
            Hit(id=rows[i][1], score=round(float(scores[i]), 6), text=rows[i][2], metadata=rows[i][3]) for i in order
        ]

    def delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            self._db.execute("BEGIN")
            removed = self._remove(ids)
            self._db.execute("COMMIT")
            self._save()
            return removed

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out = np.ascontiguousarray(vectors, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.maximum(norms, 1e-12)
    return out
