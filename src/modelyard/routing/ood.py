"""Out-of-distribution check: is a query unlike anything a trained head has seen?

A head trained on labelled requests still answers confidently on inputs that
resemble none of them ("test", "asdfgh", "👍", a line of Thai): a softmax always
sums to one. `NearestNeighbourOOD` keeps the encoder vectors of the head's
training texts and flags a query as out of distribution when

* it has fewer words than the shortest training text (``min_words``; a word is a
  run of letters or digits, so punctuation- and emoji-only input has none), or
* its cosine similarity to the nearest training text is below ``min_similarity``, or
* (when the reference sets ``max_words``) it has more words than that: a score head
  never saw inputs that long, and the encoder reads only their start, or
* (when the reference sets ``min_known_share``) too few of its words are whole words of
  the encoder's WordPiece vocabulary (`known_share`): keyboard mash ("ljwe caxou
  vewkogr") and scripts the encoder does not read sit as close to real requests in
  embedding space as the least typical 1% of them, but almost none of their words
  are known. The floor is the 0.5% quantile of the training texts' share.

Both numbers are measured on the training data when the reference is built
(`NearestNeighbourOOD.fit`): ``min_words`` is the shortest training text, and
``min_similarity`` the ``quantile`` (default 1%) of held-out in-distribution texts'
nearest-training-example similarity, so about 1% of unseen in-distribution traffic
is flagged. ``docs/classifier.md`` records the measurement for the default router.

On disk: one ``.npz`` (no pickle) holding ``codes`` int8 ``(n, dim)``, ``scales``
float32 ``(n,)`` (row ``i`` is ``codes[i] * scales[i]``, per-row symmetric int8) and a
``__meta__`` JSON entry: format, encoder id, thresholds, calibration numbers and a
SHA-256 over the arrays. Any head over unit-norm encoder vectors can use it (the
classifier router does; score heads can).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard._files import atomic_write
from modelyard.encoders.base import Vectors
from modelyard.errors import ModelLoadError

__all__ = [
    "FORMAT",
    "KNOWN_SHARE_QUANTILE",
    "NearestNeighbourOOD",
    "OodVerdict",
    "count_words",
    "known_share",
    "min_known_share_of",
]

FORMAT = "modelyard-ood-knn/1"
#: The quantile of the reference texts' `known_share` that sets ``min_known_share`` (0.5%).
KNOWN_SHARE_QUANTILE = 0.005
_META = "__meta__"
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def count_words(text: str) -> int:
    """Runs of letters or digits (Unicode-aware); punctuation, symbols and emoji are not words."""
    return len(_WORDS.findall(text))


_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


@functools.cache
def _vocabulary() -> frozenset[str]:
    """Whole-word tokens of the packaged MiniLM WordPiece vocabulary (no ``##`` continuations)."""
    from modelyard.encoders.minilm import tokenizer_file

    vocab = json.loads(tokenizer_file().read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(str(t) for t in vocab if not str(t).startswith("##"))


def known_share(text: str) -> float | None:
    """Share of the letter runs in ``text`` (lower-cased) that are whole WordPiece words; None: no letters."""
    words = _LETTERS.findall(text.lower())
    if not words:
        return None
    vocab = _vocabulary()
    return sum(w in vocab for w in words) / len(words)


@dataclass(frozen=True, slots=True)
class OodVerdict:
    """The check's outcome: ``out`` and why, with the numbers it compared."""

    out: bool
    reason: str
    similarity: float | None
    words: int


@dataclass
class NearestNeighbourOOD:
    """Nearest-training-example similarity and minimum length (see module docstring)."""

    reference: Vectors
    encoder_id: str
    min_similarity: float
    min_words: int
    meta: dict[str, Any] = field(default_factory=dict)
    #: inputs with more words than this are out of distribution; None: no upper bound
    max_words: int | None = None
    #: inputs whose `known_share` is below this are out of distribution; None: not checked
    min_known_share: float | None = None

    def __post_init__(self) -> None:
        if self.reference.ndim != 2 or len(self.reference) == 0:
            raise ModelLoadError(f"OOD reference must be a non-empty (n, dim) array, got {self.reference.shape}")

    @property
    def dim(self) -> int:
        return int(self.reference.shape[1])

    @property
    def unit(self) -> str:
        """What a reference row is, for reasons: ``example`` (a training text) or ``cluster`` (a k-means centroid)."""
        return str(self.meta.get("unit", "example"))

    def similarity(self, vector: npt.NDArray[np.floating[Any]]) -> float:
        """Cosine similarity (unit vectors) to the nearest reference row."""
        return float(np.max(self.reference @ vector))

    def check(
        self,
        text: str,
        vector: Callable[[], npt.NDArray[np.floating[Any]]],
        *,
        min_similarity: float | None = None,
    ) -> OodVerdict:
        """Judge one query; ``vector`` is called only when the length test passes (it may encode)."""
        words = count_words(text)
        if words < self.min_words:
            what = "no letters or digits" if words == 0 else f"{words} word{'s' if words != 1 else ''}"
            return OodVerdict(
                True,
                f"out of distribution: {what}, the shortest training text has {self.min_words}",
                None,
                words,
            )
        if self.max_words is not None and words > self.max_words:
            why = f"out of distribution: {words} words, over the {self.max_words} allowed for this head"
            return OodVerdict(True, why, None, words)
        if self.min_known_share is not None:
            share = known_share(text)
            if share is not None and share < self.min_known_share:
                why = f"out of distribution: {share:.0%} of its words are known words, under {self.min_known_share:.0%}"
                return OodVerdict(True, why, None, words)
        floor = self.min_similarity if min_similarity is None else min_similarity
        sim = self.similarity(vector())
        if sim < floor:
            why = f"out of distribution: nearest training {self.unit} similarity {sim:.3f} < {floor:.2f}"
            return OodVerdict(True, why, sim, words)
        return OodVerdict(False, f"in distribution: nearest training {self.unit} similarity {sim:.3f}", sim, words)

    # -- building ---------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        reference: Vectors,
        reference_texts: list[str],
        held_out: Vectors,
        *,
        encoder_id: str,
        quantile: float = 0.01,
        source: str = "",
        long_factor: float | None = None,
        known_share_quantile: float | None = None,
    ) -> NearestNeighbourOOD:
        """Thresholds from data: ``min_words`` = shortest reference text; ``min_similarity`` =
        ``quantile`` of the held-out rows' nearest-reference similarity, rounded down to 0.01;
        with ``long_factor``, ``max_words`` = ``long_factor`` × the longest reference text; with
        ``known_share_quantile``, ``min_known_share`` = that quantile of the reference texts'
        `known_share`, rounded down to 0.05."""
        if len(reference) != len(reference_texts):
            raise ValueError("one text per reference vector")
        sims = (held_out @ reference.T).max(axis=1)
        floor = float(np.floor(np.quantile(sims, quantile) * 100) / 100)
        min_words = min(count_words(t) for t in reference_texts)
        meta = {
            "source": source,
            "quantile": quantile,
            "held_out_n": len(held_out),
            "held_out_similarity_quantiles": {
                str(q): round(float(np.quantile(sims, q)), 4) for q in (0.005, 0.01, 0.02, 0.05, 0.5)
            },
            "held_out_flagged": round(float((sims < floor).mean()), 4),
        }
        max_words = None
        if long_factor is not None:
            max_words = int(np.ceil(long_factor * max(count_words(t) for t in reference_texts)))
            meta["long_factor"] = long_factor
        min_known = None
        if known_share_quantile is not None:
            min_known = min_known_share_of(reference_texts, known_share_quantile)
            meta["known_share_quantile"] = known_share_quantile
        return cls(np.asarray(reference, dtype=np.float32), encoder_id, floor, min_words, meta, max_words, min_known)

    # -- storage ----------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        scales = np.maximum(np.abs(self.reference).max(axis=1), 1e-12).astype(np.float32) / 127.0
        codes = np.round(self.reference / scales[:, None]).astype(np.int8)
        meta = {
            "format": FORMAT,
            "encoder_id": self.encoder_id,
            "min_similarity": self.min_similarity,
            "min_words": self.min_words,
            **({"max_words": self.max_words} if self.max_words is not None else {}),
            **({"min_known_share": self.min_known_share} if self.min_known_share is not None else {}),
            "n": len(codes),
            "dim": int(codes.shape[1]),
            "sha256": _digest(codes, scales),
            **self.meta,
        }
        buf = io.BytesIO()
        raw = json.dumps(meta, indent=2).encode()
        arrays = {"codes": codes, "scales": scales, _META: np.frombuffer(raw, dtype=np.uint8)}
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        atomic_write(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> NearestNeighbourOOD:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                codes, scales = data["codes"], data["scales"]
                meta = json.loads(bytes(data[_META]).decode())
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"{path}: not an OOD reference ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ModelLoadError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("sha256") != _digest(codes, scales):
            raise ModelLoadError(f"{path}: checksum mismatch; the file is damaged or was edited")
        reference = (codes.astype(np.float32) * scales[:, None]).astype(np.float32)
        reference /= np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
        extra = {k: v for k, v in meta.items() if k not in _STORED}
        max_words = int(meta["max_words"]) if meta.get("max_words") is not None else None
        known = float(meta["min_known_share"]) if meta.get("min_known_share") is not None else None
        return cls(
            reference,
            str(meta["encoder_id"]),
            float(meta["min_similarity"]),
            int(meta["min_words"]),
            extra,
            max_words,
            known,
        )


_STORED = frozenset(
    {"format", "encoder_id", "min_similarity", "min_words", "max_words", "min_known_share", "n", "dim", "sha256"}
)


def min_known_share_of(texts: list[str], quantile: float = KNOWN_SHARE_QUANTILE) -> float:
    """The ``quantile`` of ``texts``' `known_share` (texts with no letters skipped), rounded down to 0.05."""
    shares = [s for s in (known_share(t) for t in texts) if s is not None]
    if not shares:
        raise ValueError("no reference text has letters; cannot measure the known-word share")
    return float(np.floor(np.quantile(shares, quantile) * 20) / 20)


def set_known_share(path: str | Path, texts: list[str], quantile: float = KNOWN_SHARE_QUANTILE) -> float:
    """Add ``min_known_share`` (measured on ``texts``) to an existing reference file; its arrays stay byte-identical."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        codes, scales = data["codes"], data["scales"]
        meta = json.loads(bytes(data[_META]).decode())
    value = min_known_share_of(texts, quantile)
    meta |= {"min_known_share": value, "known_share_quantile": quantile}
    buf = io.BytesIO()
    raw = json.dumps(meta, indent=2).encode()
    arrays = {"codes": codes, "scales": scales, _META: np.frombuffer(raw, dtype=np.uint8)}
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    atomic_write(path, buf.getvalue())
    return value


def _digest(codes: npt.NDArray[np.int8], scales: npt.NDArray[np.float32]) -> str:
    h = hashlib.sha256()
    for name, array in (("codes", codes), ("scales", scales)):
        a: npt.NDArray[np.generic] = np.ascontiguousarray(array)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()
