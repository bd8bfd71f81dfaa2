"""Router artefacts on disk: ``router.json`` (metadata) beside ``weights.npz`` (numpy arrays).

Shared by the strong/weak score heads (`modelyard.routing.threshold`) and the
N-model quality heads (`modelyard.routing.quality_cost`). The metadata records the
format and the SHA-256 of the weights file; loading refuses a missing file, another
format or weights that do not match their checksum (``ModelLoadError``), and never
unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard._files import atomic_write
from modelyard.errors import ModelLoadError

__all__ = ["find_artefact", "read_weights", "write_weights"]


def write_weights(
    directory: Path, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]], *, fmt: str
) -> dict[str, Any]:
    """Write ``weights.npz`` then ``router.json`` (each atomically); returns the metadata written."""
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    atomic_write(directory / "weights.npz", buf.getvalue())
    written = {**meta, "format": fmt, "weights_sha256": hashlib.sha256(buf.getvalue()).hexdigest()}
    atomic_write(directory / "router.json", (json.dumps(written, indent=2) + "\n").encode())
    return written


def read_weights(directory: Path, *, fmt: str, what: str) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """``(meta, arrays)`` of the artefact in ``directory``; ``what`` names it in errors ("threshold artefact")."""
    meta_path = directory / "router.json"
    if not meta_path.is_file():
        raise ModelLoadError(f"{what} missing: {meta_path}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != fmt:
        raise ModelLoadError(f"{meta_path}: format {meta.get('format')!r}, expected {fmt}")
    weights = directory / "weights.npz"
    if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("weights_sha256"):
        raise ModelLoadError(f"{weights}: checksum does not match router.json")
    with np.load(weights, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return meta, arrays


def find_artefact(ref: str, base: Path | None, builtin: Path, *, what: str) -> Path:
    """The artefact directory ``ref`` names: a path (relative to ``base``, then the working
    directory) or the name of one shipped under ``builtin``; ModelLoadError saying where it looked."""
    path = Path(ref)
    for candidate in ([base / path] if base else []) + [path, builtin / ref]:
        if (candidate / "router.json").is_file():
            return candidate
    raise ModelLoadError(f"no {what} at {ref!r} (looked in {base or '.'} and {builtin})")
