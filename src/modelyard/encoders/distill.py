"""Distil the packaged MiniLM into a static encoder (model2vec-style), reproducibly.

    python -m modelyard.encoders.distill --out src/modelyard/encoders/minilm_static

Every WordPiece id runs through the int8 ONNX model once, as the three-token input
``[CLS] token [SEP]``; its vector is the mean of the three output states (the same
mean pooling MiniLM uses for sentences). The table is then centred and reduced with
PCA (optional; by default all 384 dimensions are kept, see docs/classifier.md), each
row is scaled by a Zipf weight ``log(1 + rank)`` (WordPiece ids are roughly in
frequency order, so frequent, uninformative tokens count less in a sentence mean),
and stored as int8 with one scale per row. Same inputs, same bytes: the model and tokenizer are
the packaged files and no step is random. A few minutes on two cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.encoders.static import StaticArtefact, vocab_sha256

__all__ = ["distill", "raw_token_states", "reduce"]

F32 = npt.NDArray[np.float32]
Advance = Callable[[int], None]
POOLINGS = ("mean", "token")
WEIGHTINGS = ("zipf", "none")
_CLS, _SEP = 101, 102


def raw_token_states(
    *, threads: int = 2, batch_size: int = 512, ids: Sequence[int] | None = None, advance: Advance | None = None
) -> dict[str, F32]:
    """Per-token MiniLM outputs ``(vocab, 384)``: ``mean`` over the 3 positions and the ``token`` position alone.

    ``ids`` limits the work to some rows (the others stay zero); tests use it."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from modelyard.encoders.minilm import onnx_file, tokenizer_file

    vocab_size = Tokenizer.from_file(str(tokenizer_file())).get_vocab_size()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_file()), options, providers=["CPUExecutionProvider"])
    mean = np.zeros((vocab_size, 384), dtype=np.float32)
    token = np.zeros((vocab_size, 384), dtype=np.float32)
    todo = np.asarray(ids if ids is not None else range(vocab_size), dtype=np.int64)
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        batch = np.stack([np.full_like(idx, _CLS), idx, np.full_like(idx, _SEP)], axis=1)
        feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch), "token_type_ids": np.zeros_like(batch)}
        (hidden,) = session.run(["last_hidden_state"], feeds)
        hidden = np.asarray(hidden, dtype=np.float32)
        mean[idx] = hidden.mean(axis=1)
        token[idx] = hidden[:, 1]
        if advance is not None:
            advance(len(idx))
    return {"mean": mean, "token": token}


def reduce(raw: F32, *, dim: int | None, weighting: str) -> tuple[F32, dict[str, Any]]:
    """Centre + PCA to ``dim`` (None keeps all 384, unrotated), then the Zipf weight per row."""
    info: dict[str, Any] = {}
    x = raw.astype(np.float64)
    if dim is not None and dim < x.shape[1]:
        x = x - x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        # SVD signs are arbitrary; fix each axis so its largest loading is positive.
        signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
        vt = vt * signs[:, None]
        x = x @ vt[:dim].T
        info["pca_explained_variance"] = round(float((s[:dim] ** 2).sum() / (s**2).sum()), 4)
    if weighting == "zipf":
        x = x * np.log1p(np.arange(x.shape[0], dtype=np.float64))[:, None]
    elif weighting != "none":
        raise ValueError(f"unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}")
    x[0] = 0.0  # [PAD]
    return x.astype(np.float32), info


def distill(
    raw: dict[str, F32], *, pooling: str = "mean", dim: int | None = None, weighting: str = "zipf"
) -> StaticArtefact:
    from tokenizers import Tokenizer

    from modelyard.encoders.minilm import MODEL_ID, tokenizer_file

    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
    table, info = reduce(raw[pooling], dim=dim, weighting=weighting)
    vocab = Tokenizer.from_file(str(tokenizer_file())).get_vocab()
    build = {
        "method": "model2vec-style: [CLS] token [SEP] through the source model",
        "pooling": pooling,
        "pca_dim": dim,
        "weighting": weighting,
        **info,
    }
    return StaticArtefact.quantise(table, MODEL_ID, vocab_sha256(vocab), build)


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output directory (encoder.json + vectors.npz)")
    parser.add_argument("--dim", type=int, default=0, help="PCA dimensions (0 = keep all 384, no PCA)")
    parser.add_argument("--pooling", choices=POOLINGS, default="mean")
    parser.add_argument("--weighting", choices=WEIGHTINGS, default="zipf")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--raw", type=Path, help="cache of the raw per-token states (.npz): reused if present")
    args = parser.parse_args(argv)
    console = Console()
    started = time.perf_counter()
    if args.raw and args.raw.is_file():
        with np.load(args.raw, allow_pickle=False) as npz:
            raw = {k: np.asarray(npz[k]) for k in npz.files}
        console.print(f"raw token states from {args.raw}")
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("MiniLM over the vocabulary", total=30522)
            raw = raw_token_states(threads=args.threads, advance=lambda n: progress.advance(task, n))
        if args.raw:
            np.savez(args.raw, **raw)  # type: ignore[arg-type]
    artefact = distill(raw, pooling=args.pooling, dim=args.dim or None, weighting=args.weighting)
    path = artefact.save(args.out)
    size = sum(p.stat().st_size for p in path.iterdir()) / 1e6
    console.print(
        f"wrote {path} ({size:.1f} MB): {artefact.model_id}, {artefact.vocab_size} tokens × {artefact.dim}, "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
