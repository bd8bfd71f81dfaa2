"""`ChromaIndex`: a collection on a Chroma server (``chroma run``), over its REST API (v2) with httpx.

For deployments past one machine. The collection is created on first use
with cosine space; ids, documents and metadata live on the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from modelyard.retrieval.base import Hit, Metadata, Where, check_where

__all__ = ["ChromaError", "ChromaIndex"]


class ChromaError(RuntimeError):
    """The Chroma server refused or could not be reached; the message names the operation."""


class ChromaIndex:
    def __init__(
        self,
        url: str,
        collection: str,
        dim: int,
        *,
        tenant: str = "default_tenant",
        database: str = "default_database",
        timeout_s: float = 30.0,
    ) -> None:
        self.dim = dim
        self.url = url.rstrip("/")
        self.collection = collection
        self._base = f"{self.url}/api/v2/tenants/{tenant}/databases/{database}/collections"
        self._http = httpx.Client(timeout=timeout_s)
        created = self._call(
            "create collection",
            "POST",
            self._base,
            {"name": _chroma_name(collection), "configuration": {"hnsw": {"space": "cosine"}}, "get_or_create": True},
        )
        self._id = created["id"]

    def __repr__(self) -> str:
        return f"ChromaIndex({self.url!r}, {self.collection!r})"

    def _call(self, what: str, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise ChromaError(f"chroma {what}: cannot reach {self.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise ChromaError(f"chroma {what}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def add(
        self, ids: Sequence[str], vectors: npt.NDArray[np.float32], texts: Sequence[str], metadatas: Sequence[Metadata]
    ) -> None:
        if len(ids) == 0:
            return
        body = {
            "ids": list(ids),
            "embeddings": np.asarray(vectors, dtype=np.float32).tolist(),
            "documents": list(texts),
            "metadatas": [m or None for m in metadatas],
        }
        self._call("upsert", "POST", f"{self._base}/{self._id}/upsert", body)

    def query(self, vector: npt.NDArray[np.float32], k: int, where: Where | None = None) -> list[Hit]:
        check_where(where)
        body: dict[str, Any] = {
            "query_embeddings": [np.asarray(vector, dtype=np.float32).tolist()],
            "n_results": k,
            "include": ["documents", "metadatas", "distances"],
        }
        if where:
            clauses = [{key: cond} for key, cond in where.items()]
            body["where"] = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        got = self._call("query", "POST", f"{self._base}/{self._id}/query", body)
        ids, docs, metas, dists = got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0]
        return [
            Hit(id=i, score=round(1.0 - float(d), 6), text=t or "", metadata=dict(m or {}))
            for i, t, m, d in zip(ids, docs, metas, dists, strict=True)
        ]

    def delete(self, ids: Sequence[str]) -> int:
        existing = self._call("get", "POST", f"{self._base}/{self._id}/get", {"ids": list(ids), "include": []})
        present = list(existing.get("ids") or [])  # Chroma counts ids it never had as deleted
        if present:
            self._call("delete", "POST", f"{self._base}/{self._id}/delete", {"ids": present})
        return len(present)

    def count(self) -> int:
        return int(self._call("count", "GET", f"{self._base}/{self._id}/count"))

    def close(self) -> None:
        self._http.close()


def _chroma_name(name: str) -> str:
    """Chroma wants 3-512 chars of [a-zA-Z0-9._-], alphanumeric at both ends."""
    return f"my-{name}-c"
