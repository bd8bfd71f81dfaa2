"""Embed prompts once: a disk cache keyed by encoder id, max length and text hash.

Embedding the 15k RouteLLM prompts takes minutes on two cores; training,
validation and every ``modelyard eval`` run reuse the cached vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from modelyard.encoders.base import Encoder, Vectors

__all__ = ["cached_encode", "text_key"]

DEFAULT_CACHE = Path(".cache/embeddings")
Progress = Callable[[int, int], None]


def text_key(text: str) -> str:
    """Content hash of one text (the cache key together with the encoder id)."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_encode(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    tag: str = "",
    cache_dir: Path = DEFAULT_CACHE,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Vectors:
    """Return ``encoder.encode(texts)``, reading/writing ``cache_dir`` by text hash.

    ``tag`` distinguishes encoder settings the id does not capture (e.g. max length).
    """
    model_key = hashlib.sha256(f"{encoder.model_id}|{tag}".encode()).hexdigest()[:16]
    path = cache_dir / f"{model_key}.npz"
    known: dict[str, Vectors] = {}
    if path.is_file():
        with np.load(path) as npz:
            keys, vecs = npz["keys"], npz["vectors"]
            known = {str(k): vecs[i] for i, k in enumerate(keys)}
    keys_needed = [text_key(t) for t in texts]
    missing = sorted(
        {k: i for i, k in enumerate(keys_needed) if k not in known}.items(), key=lambda kv: kv[1]
    )
    done = 0
    total = len(missing)
    if progress:
        progress(0, total)
    for start in range(0, total, batch_size * 4):
        chunk = missing[start : start + batch_size * 4]
        vecs = encoder.encode([texts[i] for _, i in chunk], batch_size=batch_size)
        for (k, _), v in zip(chunk, vecs, strict=True):
            known[k] = v
        done += len(chunk)
        if progress:
            progress(done, total)
    if missing:
        cache_dir.mkdir(parents=True, exist_ok=True)
        all_keys = np.array(sorted(known))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=all_keys, vectors=np.stack([known[str(k)] for k in all_keys]).astype(np.float32))
        tmp.replace(path)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([known[k] for k in keys_needed]).astype(np.float32)
