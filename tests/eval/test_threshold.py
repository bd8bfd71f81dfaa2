"""Score heads round-trip through the versioned artefact; the router decides by threshold."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.errors import ModelLoadError
from modelyard.routing.threshold import ThresholdArtefact, ThresholdRouter, ThresholdScorer
from modelyard.routing.threshold_heads import fit_head, score
from modelyard.types import ChatRequest, Target


class HashEncoder:
    """Deterministic fake encoder: unit vectors from a text hash."""

    model_id = "test/hash-encoder"
    dim = 8

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray[Any, Any]:
        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=self.dim)
            out.append(v / np.linalg.norm(v))
        return np.array(out, dtype=np.float32)


def _data(n: int = 400) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    qw = (x[:, 0] > 0).astype(float)  # the weak model fails when x0 < 0
    qs = (x[:, 1] > -0.8).astype(float)
    return x, qs, qw


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("logreg", {"C": 1.0, "target": "gain"}),
        ("knn", {"k": 5, "temperature": 0.05, "prior_weight": 1.0, "target": "weak_wrong"}),
        ("mlp", {"hidden": 16, "alpha": 1e-3, "lr": 1e-2, "target": "gain"}),
    ],
)
def test_heads_learn_and_round_trip(tmp_path: Path, kind: str, params: dict[str, Any]) -> None:
    x, qs, qw = _data()
    head = fit_head(kind, x, qs, qw, params, seed=0)
    s = score(head, x)
    assert s[qw == 0].mean() > s[qw == 1].mean()  # strong needed where weak fails
    meta = {
        "version": f"test-{kind}",
        "encoder": {"model_id": HashEncoder.model_id},
        "calibration": {"quantiles": [0.0, 1.0]},
    }
    ThresholdArtefact(meta, head).save(tmp_path / kind)
    loaded = ThresholdArtefact.load(tmp_path / kind)
    np.testing.assert_allclose(score(loaded.head, x), s, atol=2e-3 if kind == "knn" else 1e-5)


def test_corrupt_weights_are_refused(tmp_path: Path) -> None:
    x, qs, qw = _data()
    head = fit_head("logreg", x, qs, qw, {"C": 1.0, "target": "gain"})
    ThresholdArtefact({"encoder": {"model_id": "m"}}, head).save(tmp_path)
    (tmp_path / "weights.npz").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError):
        ThresholdArtefact.load(tmp_path)


def test_router_decides_by_threshold_and_calibrated_share(tmp_path: Path) -> None:
    x, qs, qw = _data()
    head = fit_head("logreg", x, qs, qw, {"C": 1.0, "target": "gain"})
    meta = {
        "version": "t",
        "encoder": {"model_id": HashEncoder.model_id},
        "calibration": {"quantiles": [0.0, 0.5, 1.0]},
    }
    ThresholdArtefact(meta, head).save(tmp_path)
    scorer = ThresholdScorer.load(tmp_path, HashEncoder())
    assert scorer.threshold_for_share(0.5) == pytest.approx(0.5)
    assert scorer.threshold_for_share(0.0) == pytest.approx(1.0)
    text = "what is 2+2"
    value = float(scorer.score([text])[0])
    strong, weak = Target.parse("model:big"), Target.parse("model:small")
    for thr, want in ((value - 1e-6, strong), (value + 1e-6, weak)):
        router = ThresholdRouter("qr", strong, weak, scorer, thr)
        decision = asyncio.run(router.decide(ChatRequest.from_text(text), None))  # type: ignore[arg-type]
        assert decision.target == want
        assert decision.details["score"] == pytest.approx(value)


def test_wrong_encoder_is_refused(tmp_path: Path) -> None:
    x, qs, qw = _data()
    head = fit_head("logreg", x, qs, qw, {"C": 1.0, "target": "gain"})
    ThresholdArtefact({"encoder": {"model_id": "other"}, "calibration": {"quantiles": [0, 1]}}, head).save(
        tmp_path
    )
    with pytest.raises(ModelLoadError):
        ThresholdScorer.load(tmp_path, HashEncoder()).score(["x"])
