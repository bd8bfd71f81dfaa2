"""One suite, both backends: the embedded default (usearch + SQLite) and a real Chroma server."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modelyard.retrieval import Collections

DIM = 384


def _unit(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _near(v: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    x = v + noise * _unit(1, seed)[0]
    return (x / np.linalg.norm(x)).astype(np.float32)


def _fill(collections: Collections, name: str, n: int = 200):
    index = collections.open(name)
    vectors = _unit(n, 1)
    ids = [f"doc-{i}" for i in range(n)]
    metas = [
        {"lang": ["en", "de", "fr"][i % 3], "team": "billing" if i % 10 == 0 else "support", "n": i} for i in range(n)
    ]
    index.add(ids, vectors, [f"text {i}" for i in range(n)], metas)
    return index, vectors


def test_query_returns_nearest_first_with_text_and_metadata(
    collections: Collections, unique: Callable[[str], str]
) -> None:
    index, vectors = _fill(collections, unique("near"))
    assert index.count() == 200
    hits = index.query(_near(vectors[17], 5), 3)
    assert hits[0]["id"] == "doc-17"
    assert hits[0]["text"] == "text 17"
    assert hits[0]["metadata"]["lang"] == "fr" and hits[0]["metadata"]["n"] == 17
    assert hits[0]["score"] > 0.9 > hits[1]["score"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


@pytest.mark.parametrize(
    ("where", "allowed"),
    [
        ({"lang": "fr"}, lambda i: i % 3 == 2),
        ({"lang": {"$in": ["en", "fr"]}}, lambda i: i % 3 != 1),
        ({"lang": {"$ne": "en"}}, lambda i: i % 3 != 0),
        ({"team": "billing", "lang": "en"}, lambda i: i % 10 == 0 and i % 3 == 0),  # rare: 7 of 200 rows
    ],
)
def test_metadata_filters(
    collections: Collections, unique: Callable[[str], str], where: dict[str, object], allowed: Callable[[int], bool]
) -> None:
    index, vectors = _fill(collections, unique("filter"))
    query = _near(vectors[17], 7)
    hits = index.query(query, 5, where)
    expected = sorted((i for i in range(200) if allowed(i)), key=lambda i: -float(vectors[i] @ query))[:5]
    assert [h["id"] for h in hits] == [f"doc-{i}" for i in expected]


def test_upsert_replaces_and_delete_removes(collections: Collections, unique: Callable[[str], str]) -> None:
    index, vectors = _fill(collections, unique("upsert"), n=50)
    index.add(["doc-3"], vectors[40:41], ["moved"], [{"lang": "xx"}])
    assert index.count() == 50
    top = index.query(vectors[40], 2)
    assert {h["id"] for h in top} == {"doc-3", "doc-40"}
    assert next(h for h in top if h["id"] == "doc-3")["text"] == "moved"
    assert index.delete(["doc-3", "doc-40", "nope"]) == 2
    assert index.count() == 48
    assert all(h["id"] not in ("doc-3", "doc-40") for h in index.query(vectors[40], 5))


def test_reopened_collection_keeps_its_rows(collections: Collections, unique: Callable[[str], str]) -> None:
    name = unique("persist")
    _, vectors = _fill(collections, name, n=30)
    again = Collections(collections.settings)
    try:
        index = again.open(name)
        assert index.count() == 30
        assert index.query(vectors[4], 1)[0]["id"] == "doc-4"
    finally:
        again.close()


def test_bad_filters_and_shapes_are_named(collections: Collections, unique: Callable[[str], str]) -> None:
    index, vectors = _fill(collections, unique("bad"), n=10)
    with pytest.raises(ValueError, match=r"where\.lang"):
        index.query(vectors[0], 3, {"lang": {"$regex": "e.*"}})
    with pytest.raises(ValueError, match="collection name"):
        collections.open("../etc")


async def test_minilm_retrieval_finds_the_right_article(collections: Collections, unique: Callable[[str], str]) -> None:
    from modelyard.encoders import default_encoder

    texts = [
        "To request a refund, open Billing > Invoices and choose Refund within 30 days of the charge.",
        "Reset your password from the sign-in page with 'Forgot password'; the link expires after one hour.",
        "Export your data as CSV from Settings > Data > Export; large exports are emailed.",
        "Two-factor authentication can be turned on under Security with any TOTP app.",
    ]
    encoder = default_encoder()
    index = collections.open(unique("kb"))
    index.add(
        [f"a{i}" for i in range(4)],
        np.asarray(encoder.encode(texts), dtype=np.float32),
        texts,
        [{"topic": t} for t in ("billing", "account", "data", "security")],
    )
    query = np.asarray(encoder.encode(["I was charged twice, how do I get my money back?"]), dtype=np.float32)[0]
    hits = await collections.search(index_name := next(iter(collections._open)), list(map(float, query)), 2, {})
    assert index_name
    assert hits[0]["id"] == "a0" and hits[0]["metadata"]["topic"] == "billing"


def test_deleting_most_rows_keeps_answers_right(collections: Collections, unique: Callable[[str], str]) -> None:
    """Past 25 % deleted rows the embedded graph is rebuilt from the live vectors; answers stay exact."""
    index, vectors = _fill(collections, unique("churn"), n=60)
    assert index.delete([f"doc-{i}" for i in range(0, 60, 2)]) == 30
    assert index.count() == 30
    hits = index.query(vectors[7], 3)
    expected = sorted(range(1, 60, 2), key=lambda i: -float(vectors[i] @ vectors[7]))[:3]
    assert [h["id"] for h in hits] == [f"doc-{i}" for i in expected]
    index.add(["doc-0"], vectors[0:1], ["back"], [{"lang": "en"}])
    assert index.query(vectors[0], 1)[0]["text"] == "back"
