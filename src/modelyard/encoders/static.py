"""A static encoder: one stored vector per WordPiece token, a sentence is their mean.

Distilled from the packaged MiniLM by `modelyard.encoders.distill` (model2vec-style):
every vocabulary token went through the transformer once, at build time, so encoding
a query at run time is tokenising it and averaging rows of a table — microseconds at
any length, with no attention. What it gives up is context: word order and
interactions between words are gone, so it is a bag of (contextless) subword
meanings. Routers use it as a fast first stage in front of the full MiniLM.

On disk (``modelyard-static-encoder``, schema version 1): a directory holding
``encoder.json`` (source encoder id, vocabulary hash, dims, how it was built, a
SHA-256 over the arrays) and ``vectors.npz``: ``codes`` int8 ``(vocab, dim)`` and
``scales`` float32 ``(vocab,)``, row ``i`` being ``codes[i] * scales[i]`` (symmetric
per-row int8; its rounding error is far below what changes a routing decision).
Loading checks all of these against the tokenizer in use.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard._files import atomic_write
from modelyard.encoders.base import Vectors
from modelyard.errors import ModelLoadError

__all__ = [
    "DEFAULT_STATIC_DIR",
    "FORMAT",
    "SCHEMA_VERSION",
    "StaticArtefact",
    "StaticEncoder",
    "default_static_encoder",
]

FORMAT = "modelyard-static-encoder"
SCHEMA_VERSION = 1
#: The static encoder distilled from the packaged MiniLM, shipped as package data.
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "minilm_static"


def vocab_sha256(vocab: dict[str, int]) -> str:
    """Hash of the token → id table, so vectors never pair with a different tokenizer."""
    h = hashlib.sha256()
    for token, idx in sorted(vocab.items(), key=lambda kv: kv[1]):
        h.update(f"{idx}\t{token}\n".encode())
    return h.hexdigest()


def _digest(codes: npt.NDArray[np.int8], scales: npt.NDArray[np.float32]) -> str:
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(codes), np.ascontiguousarray(scales)):
        h.update(f"{a.dtype.str}|{a.shape}|".encode() + a.tobytes())
    return h.hexdigest()


@dataclass
class StaticArtefact:
    """Token vectors (int8 codes × per-row scales) plus the facts needed to trust them."""

    codes: npt.NDArray[np.int8]  # (vocab, dim); weighting already applied
    scales: npt.NDArray[np.float32]  # (vocab,)
    source_encoder_id: str
    vocab_sha256: str
    build: dict[str, Any] = field(default_factory=dict)  # pooling, pca, weighting

    def __post_init__(self) -> None:
        if self.codes.ndim != 2 or self.codes.dtype != np.int8 or self.scales.shape != (self.codes.shape[0],):
            raise ModelLoadError(
                f"static encoder arrays do not fit: codes {self.codes.shape}, scales {self.scales.shape}"
            )

    @classmethod
    def quantise(
        cls, table: npt.NDArray[np.float32], source_encoder_id: str, vocab_sha: str, build: dict[str, Any] | None = None
    ) -> StaticArtefact:
        """Symmetric int8 per row: ``scale = max|row| / 127``."""
        peak = np.abs(table).max(axis=1).astype(np.float32)
        scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        codes = np.clip(np.rint(table / scales[:, None]), -127, 127).astype(np.int8)
        return cls(codes, scales, source_encoder_id, vocab_sha, dict(build or {}))

    def table(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.codes.astype(np.float32) * self.scales[:, None], dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1])

    @property
    def vocab_size(self) -> int:
        return int(self.codes.shape[0])

    @property
    def model_id(self) -> str:
        """Distinct per weights: a head trained on one table refuses any other."""
        digest = _digest(self.codes, self.scales)[:12]
        return f"modelyard/static-distill:{self.source_encoder_id}:{self.dim}d:{digest}"

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "model_id": self.model_id,
            "source_encoder": self.source_encoder_id,
            "vocab_sha256": self.vocab_sha256,
            "vocab_size": self.vocab_size,
            "dim": self.dim,
            "dtype": "int8 codes x float32 row scales",
            "build": self.build,
            "vectors_sha256": _digest(self.codes, self.scales),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        buf = io.BytesIO()
        np.savez_compressed(buf, codes=self.codes, scales=self.scales)
        atomic_write(path / "vectors.npz", buf.getvalue())
        atomic_write(path / "encoder.json", (json.dumps(self.meta(), indent=2) + "\n").encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> StaticArtefact:
        path = Path(path)
        meta_path, vec_path = path / "encoder.json", path / "vectors.npz"
        if not meta_path.is_file() or not vec_path.is_file():
            raise ModelLoadError(f"{path}: a static encoder directory needs encoder.json and vectors.npz")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(vec_path, allow_pickle=False) as npz:
                codes, scales = np.asarray(npz["codes"]), np.asarray(npz["scales"])
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path}: cannot read static encoder ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ModelLoadError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ModelLoadError(
                f"{path}: schema version {meta.get('schema_version')!r}, this modelyard reads version "
                f"{SCHEMA_VERSION}; rebuild it with `python -m modelyard.encoders.distill`"
            )
        if codes.ndim != 2 or codes.shape[1] != meta.get("dim") or _digest(codes, scales) != meta.get("vectors_sha256"):
            raise ModelLoadError(f"{path}: vectors do not match encoder.json (corrupt or edited)")
        try:
            return cls(
                codes, scales, str(meta["source_encoder"]), str(meta["vocab_sha256"]), dict(meta.get("build") or {})
            )
        except KeyError as exc:
            raise ModelLoadError(f"{path}: encoder.json is missing {exc}") from None


class StaticEncoder:
    """`Encoder` over a `StaticArtefact`, tokenising with the source encoder's own tokenizer."""

    def __init__(
        self,
        artefact: StaticArtefact | None = None,
        *,
        tokenizer_path: str | Path | None = None,
        max_tokens: int = 512,
    ) -> None:
        self._artefact = artefact or StaticArtefact.load(DEFAULT_STATIC_DIR)
        self._tokenizer_path = tokenizer_path
        self._max_tokens = max_tokens
        self._table: Vectors | None = None
        self._tokenizer: Any = None
        self._model_id = self._artefact.model_id
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._artefact.dim

    @property
    def source_encoder_id(self) -> str:
        return self._artefact.source_encoder_id

    def __repr__(self) -> str:
        return f"StaticEncoder(model_id={self._model_id!r})"

    def _load(self) -> None:
        with self._lock:
            if self._table is not None:
                return
            from tokenizers import Tokenizer

            from modelyard.encoders.minilm import MODEL_ID, tokenizer_file

            if self._artefact.source_encoder_id != MODEL_ID and self._tokenizer_path is None:
                raise ModelLoadError(
                    f"static encoder was distilled from {self._artefact.source_encoder_id!r}; "
                    "pass that encoder's tokenizer_path"
                )
            path = Path(self._tokenizer_path) if self._tokenizer_path else tokenizer_file()
            tokenizer = Tokenizer.from_file(str(path))
            if vocab_sha256(tokenizer.get_vocab()) != self._artefact.vocab_sha256:
                raise ModelLoadError(
                    f"tokenizer {path} has a different vocabulary than the static encoder was built on"
                )
            if tokenizer.get_vocab_size() != self._artefact.vocab_size:
                raise ModelLoadError("static encoder rows do not match the tokenizer's vocabulary size")
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=self._max_tokens)
            self._tokenizer = tokenizer
            self._table = self._artefact.table()

    def token_ids(self, text: str) -> list[int]:
        if self._table is None:
            self._load()
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        if self._table is None:
            self._load()
        assert self._table is not None
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 1:
            encodings = [self._tokenizer.encode(texts[0], add_special_tokens=False)]
        else:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for row, enc in enumerate(encodings):
            if enc.ids:
                out[row] = self._table[enc.ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Vectors = out / np.clip(norms, 1e-12, None)
        return unit


_default: StaticEncoder | None = None
_default_lock = threading.Lock()


def default_static_encoder() -> StaticEncoder:
    """One shared static encoder per process (the float32 table is ~30 MB)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = StaticEncoder()
        return _default
