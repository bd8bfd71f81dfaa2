"""Embedding routes: nearest route above its threshold, fall-through, and the on-disk cache."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from modelyard.config.routers.base import RouterSpec
from modelyard.errors import ConfigError
from modelyard.routing.base import BuildContext
from modelyard.routing.embedding_cache import EmbeddingCache, query_vector
from modelyard.routing.semantic import Route, SemanticRouter, SemanticRoutes, SemanticSpec
from modelyard.types import ChatRequest, Target


class BagOfWords:
    """A tiny deterministic encoder: hashed word counts, L2-normalised. Counts texts encoded."""

    model_id = "test/hashed-bag-of-words"
    dim = 256

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)


ROUTES = [
    Route(name="lam", utterances=["book a table for two", "book a flight to paris", "file a ticket in jira"]),
    Route(name="lcm", utterances=["draw a watercolor fox", "generate an image of a castle"], threshold=0.4),
    Route(name="chitchat", utterances=["hello how are you", "good morning"], target="slm", threshold=0.9),
]


@pytest.fixture
def encoder() -> BagOfWords:
    return BagOfWords()


def test_nearest_route_wins(encoder: BagOfWords, tmp_path: Path) -> None:
    routes = SemanticRoutes(ROUTES, encoder, cache=EmbeddingCache(tmp_path))
    m = routes.match("please book a table for four")
    assert m.route is not None and m.route.name == "lam"
    assert m.score == pytest.approx(max(m.scores.values()), abs=1e-3)
    assert set(m.scores) == {"lam", "lcm", "chitchat"}


def test_per_route_threshold_and_fall_through(encoder: BagOfWords, tmp_path: Path) -> None:
    routes = SemanticRoutes(ROUTES, encoder, cache=EmbeddingCache(tmp_path))
    # Close to "hello how are you" but not above chitchat's 0.9 threshold: no route.
    m = routes.match("hello there how is it going")
    assert m.route is None
    assert m.scores["chitchat"] > m.scores["lam"]
    router = SemanticRouter("sem", routes, fallback="router:classifier")
    decision = router.decide_sync(ChatRequest.from_text("what is the capital of peru"))
    assert decision.target == Target(kind="router", name="classifier")
    assert "falling through" in decision.reason
    assert not any(c.accepted for c in decision.candidates)


def test_route_target_defaults_to_name_and_can_be_set(encoder: BagOfWords, tmp_path: Path) -> None:
    router = SemanticRouter("sem", SemanticRoutes(ROUTES, encoder, cache=EmbeddingCache(tmp_path)), "llm")
    d = router.decide_sync(ChatRequest.from_text("draw a watercolor fox please"))
    assert d.target == Target(kind="family", name="lcm") and d.details["matched"] == "lcm"
    d = router.decide_sync(ChatRequest.from_text("good morning"))
    assert d.target == Target(kind="family", name="slm")


def test_top_k_mean_is_lower_than_max(encoder: BagOfWords, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    best = SemanticRoutes(ROUTES, encoder, cache=cache).match("book a table for two")
    mean2 = SemanticRoutes(ROUTES, encoder, cache=cache, top_k=2).match("book a table for two")
    assert best.scores["lam"] == pytest.approx(1.0, abs=1e-5)
    assert mean2.scores["lam"] < best.scores["lam"]
    # chitchat has two utterances: top_k larger than a route's size averages what it has.
    mean9 = SemanticRoutes(ROUTES, encoder, cache=cache, top_k=9).match("good morning")
    assert 0 < mean9.scores["chitchat"] < 1


def test_cache_hit_does_not_re_encode(tmp_path: Path) -> None:
    first = BagOfWords()
    SemanticRoutes(ROUTES, first, cache=EmbeddingCache(tmp_path))
    assert len(first.encoded) == 7
    second = BagOfWords()
    routes = SemanticRoutes(ROUTES, second, cache=EmbeddingCache(tmp_path))
    assert second.encoded == []
    np.testing.assert_allclose(routes.matrix, first.encode([u for r in ROUTES for u in r.utterances]))
    # A new utterance encodes only itself.
    third = BagOfWords()
    SemanticRoutes([*ROUTES, Route(name="new", utterances=["brand new text"])], third, cache=EmbeddingCache(tmp_path))
    assert third.encoded == ["brand new text"]


def test_cache_is_keyed_by_model_id(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    a = BagOfWords()
    cache.encode(a, ["same text"])
    b = BagOfWords()
    b.model_id = "test/another-model"  # type: ignore[misc]
    cache.encode(b, ["same text"])
    assert b.encoded == ["same text"]
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_corrupt_cache_is_a_miss(tmp_path: Path, encoder: BagOfWords) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.path_for(encoder.model_id).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for(encoder.model_id).write_bytes(b"not an npz")
    vecs = cache.encode(encoder, ["hello"])
    assert vecs.shape == (1, encoder.dim) and encoder.encoded == ["hello"]
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_request_cache_shares_the_query_vector(encoder: BagOfWords) -> None:
    shared: dict[str, object] = {}
    query_vector(encoder, "hello", shared)
    query_vector(encoder, "hello", shared)
    assert encoder.encoded == ["hello"]
    query_vector(encoder, "other", shared)
    assert encoder.encoded == ["hello", "other"]


def test_spec_validation_and_build(encoder: BagOfWords, tmp_path: Path) -> None:
    spec = SemanticSpec.model_validate(
        {
            "name": "sem",
            "fallback": "classifier",
            "threshold": 0.3,
            "cache_dir": "emb",
            "routes": [{"name": "lam", "utterances": ["book a table"]}, {"name": "lcm", "utterances": ["draw"]}],
        }
    )
    assert [p for p, _ in spec.references()] == ["fallback", "routes[0].target", "routes[1].target"]
    routers: dict[str, RouterSpec] = {"classifier": spec}
    build = BuildContext(registry=None, config_dir=tmp_path, routers=routers, encoder_factory=lambda: encoder)  # type: ignore[arg-type]
    router = SemanticRouter.from_spec(spec, build)
    assert router.fallback == Target(kind="router", name="classifier")
    assert (tmp_path / "emb").is_dir()
    with pytest.raises(ValueError, match="unique"):
        SemanticSpec.model_validate(
            {"fallback": "llm", "routes": [{"name": "a", "utterances": ["x"]}, {"name": "a", "utterances": ["y"]}]}
        )
    with pytest.raises(ValueError):
        SemanticSpec.model_validate({"fallback": "llm", "routes": [{"name": "a", "utterances": []}]})
    with pytest.raises(ConfigError, match="top_k"):
        SemanticRoutes(ROUTES, encoder, cache=EmbeddingCache(tmp_path), top_k=0)
