"""The static encoder distilled from MiniLM: shape, norm, determinism, artefact checks, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard.encoders import Encoder
from modelyard.encoders.distill import distill, raw_token_states, reduce
from modelyard.encoders.minilm import MODEL_ID
from modelyard.encoders.static import DEFAULT_STATIC_DIR, StaticArtefact, StaticEncoder, default_static_encoder
from modelyard.errors import ModelLoadError

TEXTS = ["Draw me a watercolor fox", "What is the capital of France?", "sentiment: great update"]


def small_artefact(seed: int = 0, vocab_sha: str = "v" * 64, source: str = MODEL_ID) -> StaticArtefact:
    table = np.random.default_rng(seed).normal(size=(50, 8)).astype(np.float32)
    return StaticArtefact.quantise(table, source, vocab_sha, {"note": "test"})


def test_shipped_encoder_shape_norm_and_determinism() -> None:
    enc = default_static_encoder()
    assert isinstance(enc, Encoder) and enc.dim == 384 and enc.source_encoder_id == MODEL_ID
    x = enc.encode(TEXTS)
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(x, enc.encode(TEXTS))
    np.testing.assert_allclose(enc.encode(TEXTS[1:2])[0], x[1], rtol=1e-6)  # single and batched agree
    assert not enc.encode([""]).any()  # no tokens, no direction
    with pytest.raises(TypeError):
        enc.encode("a string")  # type: ignore[arg-type]


def test_shipped_encoder_keeps_meaning() -> None:
    a, b, c = default_static_encoder().encode(
        ["generate a picture of a cat", "draw an image of a dog", "what is the capital of France"]
    )
    assert float(a @ b) > float(a @ c) + 0.1


def test_shipped_table_is_what_distillation_produces() -> None:
    """Rows of the packaged table equal MiniLM run on `[CLS] token [SEP]`, Zipf-weighted, to int8 precision."""
    shipped = StaticArtefact.load(DEFAULT_STATIC_DIR)
    assert shipped.build["pooling"] == "mean" and shipped.build["weighting"] == "zipf"
    ids = [1996, 2000, 4937, 7592, 29000]
    raw = raw_token_states(threads=1, ids=ids)
    rows, _ = reduce(raw["mean"], dim=None, weighting="zipf")
    table = shipped.table()
    for i in ids:
        np.testing.assert_allclose(
            table[i], rows[i], atol=float(shipped.scales[i]) * 0.51 + 1e-3 * np.abs(rows[i]).max()
        )


def test_distill_is_deterministic_and_pca_signs_are_fixed() -> None:
    raw = {"mean": np.random.default_rng(3).normal(size=(3000, 64)).astype(np.float32)}
    raw["token"] = raw["mean"]
    a = distill(raw, dim=16)
    b = distill(raw, dim=16)
    assert a.model_id == b.model_id and a.dim == 16 and a.build["pca_dim"] == 16
    np.testing.assert_array_equal(a.codes, b.codes)
    assert not a.table()[0].any()  # [PAD]
    with pytest.raises(ValueError, match="pooling"):
        distill(raw, pooling="max")


def test_artefact_round_trip_and_ids(tmp_path: Path) -> None:
    art = small_artefact()
    loaded = StaticArtefact.load(art.save(tmp_path / "s"))
    assert loaded.model_id == art.model_id and loaded.source_encoder_id == MODEL_ID
    assert loaded.model_id.startswith(f"modelyard/static-distill:{MODEL_ID}:8d:")
    np.testing.assert_array_equal(loaded.table(), art.table())
    assert small_artefact(seed=1).model_id != art.model_id  # other weights, other id
    meta = json.loads((tmp_path / "s" / "encoder.json").read_text())
    assert meta["schema_version"] == 1 and meta["vocab_size"] == 50 and meta["build"] == {"note": "test"}


def test_quantisation_error_is_small() -> None:
    table = np.random.default_rng(0).normal(size=(100, 32)).astype(np.float32)
    art = StaticArtefact.quantise(table, MODEL_ID, "v")
    err = np.abs(art.table() - table).max(axis=1)
    assert (err <= np.abs(table).max(axis=1) / 254 + 1e-6).all()


def test_version_format_and_tampering_are_rejected(tmp_path: Path) -> None:
    path = small_artefact().save(tmp_path / "s")
    meta_path = path / "encoder.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "schema_version": 2}))
    with pytest.raises(ModelLoadError, match=r"schema version 2.*distill"):
        StaticArtefact.load(path)
    meta_path.write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ModelLoadError, match="format"):
        StaticArtefact.load(path)
    meta_path.write_text(json.dumps(meta))
    other = small_artefact(seed=5)
    np.savez(path / "vectors.npz", codes=other.codes, scales=other.scales)
    with pytest.raises(ModelLoadError, match="corrupt"):
        StaticArtefact.load(path)
    with pytest.raises(ModelLoadError, match=r"needs encoder\.json"):
        StaticArtefact.load(tmp_path / "missing")


def test_tokenizer_and_source_encoder_must_match() -> None:
    with pytest.raises(ModelLoadError, match="different vocabulary"):
        StaticEncoder(small_artefact()).encode(["hello"])
    with pytest.raises(ModelLoadError, match="distilled from 'some/other-model'"):
        StaticEncoder(small_artefact(source="some/other-model")).encode(["hello"])
