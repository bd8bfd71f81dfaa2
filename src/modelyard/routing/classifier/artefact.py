"""The trained classifier router on disk: versioned JSON metadata plus numpy arrays.

Two layouts, same content:

* a directory holding ``router.json`` (metadata) and ``weights.npz`` (arrays), which
  diffs well in review and is what ships as the package default;
* a single ``.npz`` file whose ``__meta__`` entry holds the same JSON as UTF-8 bytes,
  for ``modelyard train --out router.npz``.

Nothing is pickled: arrays load with ``allow_pickle=False`` and the head is rebuilt
from them. Loading checks the format name, schema version, weights checksum and that
head shapes match the labels; the router checks the encoder id before first use.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard._files import atomic_write
from modelyard.errors import ModelLoadError
from modelyard.routing.classifier.head import Arrays, FloatArray, LinearHead, MlpHead, head_from_arrays

__all__ = ["DEFAULT_DIR", "DEFAULT_STATIC_DIR", "FORMAT", "OOD_FILE", "SCHEMA_VERSION", "ClassifierArtefact"]

FORMAT = "modelyard-classifier-router"
SCHEMA_VERSION = 1
#: The default router trained on data/family-queries, shipped as package data.
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
#: The fast-stage head over the static encoder distilled from MiniLM (same labels).
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "default_static"
_META_KEY = "__meta__"
#: The out-of-distribution reference (`modelyard.routing.ood`) kept beside an artefact directory's head.
OOD_FILE = "ood.npz"


def _digest(arrays: Arrays) -> str:
    """Checksum over array names, dtypes, shapes and bytes (independent of npz zip metadata)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class ClassifierArtefact:
    """Labels, the encoder the head was trained on, the head, and how it was made."""

    labels: list[str]
    encoder_id: str
    head: LinearHead | MlpHead
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.head.n_classes != len(self.labels):
            raise ModelLoadError(f"head predicts {self.head.n_classes} classes but {len(self.labels)} labels given")
        if len(set(self.labels)) != len(self.labels):
            raise ModelLoadError(f"duplicate labels: {self.labels}")

    def predict_proba(self, embeddings: FloatArray) -> FloatArray:
        return self.head.predict_proba(embeddings)

    def meta(self, arrays: Arrays) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "labels": self.labels,
            "encoder": {"model_id": self.encoder_id, "dim": self.head.n_features},
            "head": {"kind": self.head.kind},
            "metrics": self.metrics,
            "dataset": self.dataset,
            "created_at": self.created_at,
            "weights_sha256": _digest(arrays),
            **({"extra": self.extra} if self.extra else {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write a directory, or one file when ``path`` ends in ``.npz``. Writes are atomic."""
        path = Path(path)
        arrays = self.head.arrays()
        meta_json = json.dumps(self.meta(arrays), indent=2, ensure_ascii=False) + "\n"
        if path.suffix == ".npz":
            buf = io.BytesIO()
            packed = {**arrays, _META_KEY: np.frombuffer(meta_json.encode(), dtype=np.uint8)}
            np.savez_compressed(buf, **packed)  # type: ignore[arg-type]
            atomic_write(path, buf.getvalue())
            return path
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        atomic_write(path / "weights.npz", buf.getvalue())
        atomic_write(path / "router.json", meta_json.encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClassifierArtefact:
        path = Path(path)
        if path.is_dir():
            meta_path, weights_path = path / "router.json", path / "weights.npz"
            if not meta_path.is_file() or not weights_path.is_file():
                raise ModelLoadError(f"{path}: a classifier router directory needs router.json and weights.npz")
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ModelLoadError(f"{meta_path}: not valid JSON ({exc})") from None
            arrays = _read_npz(weights_path)
        elif path.is_file():
            arrays = _read_npz(path)
            raw = arrays.pop(_META_KEY, None)
            if raw is None:
                raise ModelLoadError(f"{path}: no {_META_KEY} entry; not a modelyard classifier router")
            meta = json.loads(bytes(np.asarray(raw, dtype=np.uint8)).decode("utf-8"))
        else:
            raise ModelLoadError(f"classifier router not found: {path}")
        return cls.from_parts(meta, arrays, source=str(path))

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: Arrays, *, source: str = "") -> ClassifierArtefact:
        where = f"{source}: " if source else ""
        if meta.get("format") != FORMAT:
            raise ModelLoadError(f"{where}format {meta.get('format')!r} is not {FORMAT!r}")
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelLoadError(
                f"{where}schema version {version!r}, this modelyard reads version {SCHEMA_VERSION}; "
                "retrain it with `modelyard train --data ... --out ...`"
            )
        if _digest(arrays) != meta.get("weights_sha256"):
            raise ModelLoadError(f"{where}weights checksum does not match the metadata (corrupt or edited)")
        try:
            head = head_from_arrays(str(meta["head"]["kind"]), arrays)
            encoder_id = str(meta["encoder"]["model_id"])
            labels = [str(x) for x in meta["labels"]]
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"{where}metadata is missing {exc}") from None
        try:
            return cls(
                labels=labels,
                encoder_id=encoder_id,
                head=head,
                metrics=dict(meta.get("metrics") or {}),
                dataset=dict(meta.get("dataset") or {}),
                created_at=str(meta.get("created_at", "")),
                extra=dict(meta.get("extra") or {}),
            )
        except ModelLoadError as exc:
            raise ModelLoadError(f"{where}{exc}") from None

    def check_encoder(self, model_id: str) -> None:
        """Refuse to pair the head with vectors from a different embedding model."""
        if model_id != self.encoder_id:
            raise ModelLoadError(
                f"classifier router was trained on encoder {self.encoder_id!r} but the encoder in use is "
                f"{model_id!r}; retrain with `modelyard train` using that encoder"
            )


def _read_npz(path: Path) -> Arrays:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: cannot read arrays ({exc})") from None
