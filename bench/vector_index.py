"""Vector index candidates for modelyard's embedded default, measured side by side.

For each candidate: build time, memory (process RSS growth over the build),
recall@10 against exact search (numpy, float32 inner product on unit vectors)
and query latency (one query at a time, p50/p95), on

* ``minilm``: real all-MiniLM-L6-v2 vectors of data/family-queries (the
  packaged encoder; index = all but 1,000 texts, queries = the last 1,000);
* ``random-10k`` and ``random-100k``: random unit vectors of dim 384
  (queries: 1,000 other random unit vectors — the hard case for graph indexes).

Candidates (each single-threaded, one build per size): hnswlib (HNSW,
M=16, ef_construction=100, ef=64), usearch (HNSW, connectivity 16, expansion
100/64), faiss-cpu (IndexHNSWFlat M=16, efSearch 64), sqlite-vec (vec0 table,
exact scan) and LanceDB (flat scan, no ANN index: its IVF-PQ index needs a
training pass that is out of scope for a short run).

Run it where the candidates are installed (a scratch venv):

    .venv/bin/python bench/vector_index.py embed   # MiniLM vectors → bench/results/minilm_vectors.npy (not in git)
    SCRATCH/bin/python bench/vector_index.py run --sets minilm,random-10k,random-100k \
        --save bench/results/vector_index.json

The machine is shared (2 cores): keep to one build per candidate and 1,000 queries.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
MINILM = ROOT / "bench" / "results" / "minilm_vectors.npy"
K = 10
DIM = 384


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _unit(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "minilm":
        vectors = np.load(MINILM).astype(np.float32)
        return vectors[:-1000], vectors[-1000:]
    size = {"random-10k": 10_000, "random-100k": 100_000}[name]
    return _unit(size, 1), _unit(1000, 2)


def exact(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ base.T
    return np.argsort(-scores, axis=1)[:, :K]


# each candidate: build(base) -> query(vector) -> ids
Build = Callable[[np.ndarray, str], Callable[[np.ndarray], list[int]]]


def hnswlib_build(base: np.ndarray, tmp: str) -> Callable[[np.ndarray], list[int]]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(base), M=16, ef_construction=100)
    index.set_num_threads(1)
    index.add_items(base, np.arange(len(base)))
    index.set_ef(64)
    return lambda q: [int(i) for i in index.knn_query(q, k=K)[0][0]]


def usearch_build(base: np.ndarray, tmp: str) -> Callable[[np.ndarray], list[int]]:
    from usearch.index import Index

    index = Index(ndim=DIM, metric="ip", dtype="f32", connectivity=16, expansion_add=100, expansion_search=64)
    index.add(np.arange(len(base)), base, threads=1)
    return lambda q: [int(i) for i in index.search(q, K, threads=1).keys]


def faiss_build(base: np.ndarray, tmp: str) -> Callable[[np.ndarray], list[int]]:
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 100
    index.add(base)
    index.hnsw.efSearch = 64
    return lambda q: [int(i) for i in index.search(q.reshape(1, -1), K)[1][0]]


def sqlite_vec_build(base: np.ndarray, tmp: str) -> Callable[[np.ndarray], list[int]]:
    """vec0 through the stdlib sqlite3 when it can load extensions, else through apsw (bundled SQLite).

    pyenv's and some distributions' Pythons build sqlite3 without extension loading:
    sqlite-vec then needs apsw (or pysqlite3) — a cost of choosing it.
    """
    import sqlite_vec

    path = os.path.join(tmp, "vec.db")
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        db: Any = sqlite3.connect(path)
        db.enable_load_extension(True)
        sqlite_vec.load(db)
    else:
        import apsw

        db = apsw.Connection(path)
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}] distance_metric=cosine)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)", [(i, base[i].tobytes()) for i in range(len(base))])
    db.execute("COMMIT")
    sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
    return lambda q: [int(r[0]) for r in db.execute(sql, (q.tobytes(), K))]


def lancedb_build(base: np.ndarray, tmp: str) -> Callable[[np.ndarray], list[int]]:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(os.path.join(tmp, "lance"))
    table = pa.table(
        {"id": pa.array(np.arange(len(base))), "vector": pa.FixedSizeListArray.from_arrays(pa.array(base.ravel()), DIM)}
    )
    tbl = db.create_table("v", table)

    def query(q: np.ndarray) -> list[int]:
        rows = tbl.search(q).metric("dot").limit(K).select(["id", "_distance"]).to_arrow()
        return [int(i) for i in rows.column("id").to_pylist()]

    return query


CANDIDATES: dict[str, Build] = {
    "hnswlib": hnswlib_build,
    "usearch": usearch_build,
    "faiss-cpu": faiss_build,
    "sqlite-vec": sqlite_vec_build,
    "lancedb": lancedb_build,
}


def measure(name: str, build: Build, base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix=f"vbench-{name}-")
    try:
        gc.collect()
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        query = build(base, tmp)
        build_s = time.perf_counter() - t0
        rss1 = _rss_mb()
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
        query(queries[0])  # warm
        lat: list[float] = []
        hits = 0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            ids = query(q)
            lat.append((time.perf_counter() - t) * 1000.0)
            hits += len(set(ids) & set(truth[i].tolist()))
        return {
            "build_s": round(build_s, 2),
            "rss_growth_mb": round(rss1 - rss0, 1),
            "disk_mb": round(disk, 1),
            "recall_at_10": round(hits / (K * len(queries)), 4),
            "query_p50_ms": round(float(np.percentile(lat, 50)), 3),
            "query_p95_ms": round(float(np.percentile(lat, 95)), 3),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_embed(args: argparse.Namespace) -> None:
    from modelyard.encoders import default_encoder

    texts: list[str] = []
    for name in ("train", "test", "acceptance"):
        path = ROOT / "data" / "family-queries" / f"{name}.jsonl"
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    t0 = time.perf_counter()
    vectors = np.asarray(default_encoder().encode(texts), dtype=np.float32)
    print(f"embedded {len(texts)} texts in {time.perf_counter() - t0:.1f} s → {MINILM}")
    MINILM.parent.mkdir(parents=True, exist_ok=True)
    np.save(MINILM, vectors)


_MODULES = {
    "hnswlib": "hnswlib",
    "usearch": "usearch.index",
    "faiss-cpu": "faiss",
    "sqlite-vec": "sqlite_vec",
    "lancedb": "lancedb",
}


def beside_onnxruntime(name: str) -> bool:
    """Does ``import <candidate>; import onnxruntime`` survive? (modelyard always loads onnxruntime for MiniLM.)"""
    import subprocess
    import sys

    code = f"import {_MODULES[name]}; import onnxruntime"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def cmd_run(args: argparse.Namespace) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from _results import Run

    sets = args.sets.split(",")
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    run = Run("vector_index", Path(args.save) if args.save else None, {"sets": sets, "candidates": names, "k": K})
    results: dict[str, dict[str, Any]] = {"imports_beside_onnxruntime": {n: beside_onnxruntime(n) for n in names}}
    print(results, flush=True)
    for set_name in sets:
        base, queries = dataset(set_name)
        t0 = time.perf_counter()
        truth = exact(base, queries)
        exact_ms = (time.perf_counter() - t0) * 1000.0 / len(queries)
        results[set_name] = {
            "n": len(base),
            "queries": len(queries),
            "exact_numpy_batch_ms_per_query": round(exact_ms, 3),
        }
        for name in names:
            row = measure(name, CANDIDATES[name], base, queries, truth)
            results[set_name][name] = row
            print(set_name, name, row, flush=True)
    path = run.save(results)
    print(json.dumps(results, indent=1))
    if path:
        print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("embed")
    run = sub.add_parser("run")
    run.add_argument("--sets", default="minilm,random-10k,random-100k")
    run.add_argument("--candidates", default="")
    run.add_argument("--save", default="")
    args = parser.parse_args()
    {"embed": cmd_embed, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    main()
