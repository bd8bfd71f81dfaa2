"""A disk cache of sentence embeddings keyed by encoder id and text hash.

Embedding routes re-embed their example utterances on every start, and training
re-embeds its whole dataset; both go through this cache so a warm start costs a
file read. One ``.npz`` per encoder id under the cache directory, rewritten
atomically (temp file + rename) when new texts are added, so a crash or two
processes writing at once never leave a torn file: the worst case is that one
writer's additions are lost and recomputed next time.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelyard._files import atomic_write
from modelyard.encoders.base import Encoder, Vectors

__all__ = ["DEFAULT_CACHE_DIR", "EmbeddingCache", "query_vector", "text_key"]

DEFAULT_CACHE_DIR = Path("~/.cache/modelyard/embeddings")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """``cache.encode(encoder, texts)`` equals ``encoder.encode(texts)``, computed once per text."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()

    def path_for(self, model_id: str) -> Path:
        safe = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:16]
        return self.cache_dir / f"{safe}.npz"

    def _read(self, path: Path, model_id: str) -> dict[str, Vectors]:
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as npz:
                if str(npz["model_id"]) != model_id:
                    return {}  # hash collision on the file name: ignore, it will be rewritten
                keys, vecs = npz["keys"], npz["vectors"]
                return {str(k): vecs[i] for i, k in enumerate(keys)}
        except (OSError, ValueError, KeyError):
            return {}  # unreadable cache is a miss, never an error

    def _write(self, path: Path, model_id: str, known: dict[str, Vectors]) -> None:
        keys = sorted(known)
        buf = io.BytesIO()
        np.savez(
            buf,
            model_id=np.array(model_id),
            keys=np.array(keys),
            vectors=np.stack([known[k] for k in keys]).astype(np.float32),
        )
        atomic_write(path, buf.getvalue())

    def encode(self, encoder: Encoder, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        """Vectors for ``texts`` in order; only texts not yet cached reach the encoder."""
        model_id = encoder.model_id
        path = self.path_for(model_id)
        known = self._read(path, model_id)
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in known:
                missing.setdefault(k, t)
        if missing:
            vecs = encoder.encode(list(missing.values()), batch_size=batch_size)
            for k, v in zip(missing, vecs, strict=True):
                known[k] = np.asarray(v, dtype=np.float32)
            try:
                self._write(path, model_id, known)
            except OSError:
                pass  # a read-only cache dir must not break routing
        if not keys:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)


def query_vector(encoder: Encoder, text: str, request_cache: MutableMapping[str, Any] | None = None) -> Vectors:
    """Embed one query, once per request: chained routers (embedding routes, then the
    classifier) share the vector through the request's ``RouteContext.cache``."""
    key = f"query-embedding|{encoder.model_id}"
    if request_cache is not None:
        hit = request_cache.get(key)
        if hit is not None and hit[0] == text:
            vec: Vectors = hit[1]
            return vec
    vec = encoder.encode([text])[0]
    if request_cache is not None:
        request_cache[key] = (text, vec)
    return vec
