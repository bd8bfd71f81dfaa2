"""Decision latency of the encoder-backed routers (classifier, embedding routes) by query length.

    .venv/bin/python bench/encoder_routers_latency.py [--n 300] [--threads 1 2] [--save [FILE]]

Queries are real rows of data/family-queries/test.jsonl, bucketed by MiniLM token
count (~10, ~50 and 128 tokens; the 128 bucket joins long rows and cuts them at
exactly 128 tokens). Each call is timed on its own after a warm-up; rows show the
encoder alone, the head alone, and whole decisions: MiniLM-only, static-only
(the head over the static encoder distilled from MiniLM) and two-stage (static
first, MiniLM when the static head is below ``fast_confidence``), with the share
of calls the static stage decided. ``--threads`` sets onnxruntime's intra-op
threads (0 = onnxruntime's default, all cores).

`BENCHES` has the same (name, factory) shape as bench/route_latency.py, so that
script can append these rows to its own table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from modelyard.encoders import MiniLMEncoder
from modelyard.encoders.static import default_static_encoder
from modelyard.routing.classifier.artefact import DEFAULT_DIR, DEFAULT_STATIC_DIR, ClassifierArtefact
from modelyard.routing.classifier.router import ClassifierRouter, TextClassifier, _calibrated
from modelyard.routing.embedding_cache import EmbeddingCache
from modelyard.routing.semantic import Route, SemanticRouter, SemanticRoutes
from modelyard.types import ChatRequest, Decision

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "family-queries"
BUCKETS = {"~10 tok": (6, 16), "~50 tok": (40, 64), "128 tok": (128, 128)}

Call = Callable[[ChatRequest], Awaitable[Decision]]
Factory = Callable[[], Call]


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def bucketed_queries(encoder: MiniLMEncoder, per_bucket: int = 60) -> dict[str, list[str]]:
    """Held-out queries grouped by token count (special tokens included)."""
    encoder.encode(["warm up"])
    tok = encoder._tokenizer  # the encoder's own tokenizer, so counts match what is run
    texts = [r["text"] for r in _rows("test.jsonl")]
    lengths = [len(tok.encode(t).ids) for t in texts]
    out: dict[str, list[str]] = {}
    for name, (lo, hi) in BUCKETS.items():
        if lo == hi:  # build exact-length queries from the longest rows
            longest = [t for _, t in sorted(zip(lengths, texts, strict=True), reverse=True)]
            made = []
            for i in range(per_bucket):
                joined = " ".join(longest[i : i + 6])
                ids = tok.encode(joined).ids[1 : hi - 1]
                made.append(tok.decode(ids))
            out[name] = made
        else:
            out[name] = [t for t, n in zip(texts, lengths, strict=True) if lo <= n <= hi][:per_bucket]
    return out


def example_routes() -> list[Route]:
    """Eight routes of 20 hand-written training utterances each (one per family)."""
    by_family: dict[str, list[str]] = {}
    for r in _rows("train.jsonl"):
        if r["source"] == "handwritten":
            by_family.setdefault(r["label"], []).append(r["text"])
    return [
        Route(name=f, utterances=random.Random(f).sample(sorted(u), 20), threshold=0.55)
        for f, u in sorted(by_family.items())
    ]


def build(threads: int) -> tuple[MiniLMEncoder, ClassifierRouter, SemanticRouter]:
    encoder = MiniLMEncoder(threads=threads or None)
    classifier = ClassifierRouter("classifier", TextClassifier(ClassifierArtefact.load(DEFAULT_DIR), encoder))
    routes = SemanticRoutes(example_routes(), encoder, cache=EmbeddingCache())
    return encoder, classifier, SemanticRouter("semantic", routes, fallback="router:classifier")


def build_staged(classifier: ClassifierRouter) -> tuple[ClassifierRouter, ClassifierRouter]:
    """(static-only, two-stage) routers around the MiniLM one, with the shipped fast head."""
    fast = TextClassifier(ClassifierArtefact.load(DEFAULT_STATIC_DIR), default_static_encoder())
    static_only = ClassifierRouter("classifier-static", fast)
    two_stage = ClassifierRouter(
        "classifier-2stage", classifier.classifier, fast=fast, fast_confidence=_calibrated(fast)
    )
    return static_only, two_stage


def fast_share(router: ClassifierRouter, queries: list[str]) -> float:
    stages = [router.decide_sync(ChatRequest.from_text(q)).details["stage"] for q in queries]
    return stages.count("fast") / len(stages)


def time_calls(fn: Callable[[str], object], queries: list[str], n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU milliseconds per call. On a shared machine wall time
    includes waiting for a core; CPU time does not, so with one onnxruntime thread it
    approximates the wall time the call would take on an idle core."""
    for q in queries[:10]:
        fn(q)
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    wall: list[float] = []
    used: list[float] = []
    for i in range(n):
        q = queries[i % len(queries)]
        c0, w0 = cpu(), clock()
        fn(q)
        wall.append((clock() - w0) / 1e6)
        used.append((cpu() - c0) / 1e6)
    return wall, used


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(threads: int) -> tuple[dict[str, list[str]], list[tuple[str, Callable[[str], object]]]]:
    """What to time for one thread setting: full decisions, and the encoder and heads alone."""
    encoder, classifier, semantic = build(threads)
    static_only, two_stage = build_staged(classifier)
    static = static_only.classifier.encoder
    short = ClassifierRouter("classifier", classifier.classifier, max_chars=160)
    vec = encoder.encode(["a query"])
    head = classifier.classifier.artefact
    return bucketed_queries(encoder), [
        ("encoder only", lambda q: encoder.encode([q])),
        ("static encoder only", lambda q: static.encode([q])),
        ("classifier decide", lambda q: classifier.decide_sync(ChatRequest.from_text(q))),
        ("static classifier decide", lambda q: static_only.decide_sync(ChatRequest.from_text(q))),
        ("two-stage classifier decide", lambda q: two_stage.decide_sync(ChatRequest.from_text(q))),
        ("classifier decide, max_chars=160", lambda q: short.decide_sync(ChatRequest.from_text(q))),
        ("embedding routes decide", lambda q: semantic.decide_sync(ChatRequest.from_text(q))),
        ("classifier head only", lambda _q: head.predict_proba(vec)),
        ("route scoring only", lambda _q: semantic.routes.match_vector(vec[0])),
    ]


def run(n: int, threads_list: list[int], console: Console, save: Path | None = None) -> None:
    from _results import Run

    saving = Run("encoder_routers_latency", save, {"n": n, "threads": threads_list})
    saved: list[dict[str, object]] = []
    table = Table(title=f"decision latency in ms (n={n} per row; load avg {os.getloadavg()[0]:.1f} at start)")
    for col in ("threads", "what", "bucket", "p50", "p99", "mean", "CPU p50", "static share"):
        table.add_column(col, justify="left" if col in ("what", "bucket") else "right")
    for threads in threads_list:
        queries, rows = _timed(threads)
        staged = build_staged(build(threads)[1])[1]
        label = str(threads or "default")
        for what, fn in rows:
            if "only" in what and "encoder" not in what:
                s, _ = time_calls(fn, ["x"], n * 10)
                us = (f"{pct(s, 0.5) * 1000:.0f} µs", f"{pct(s, 0.99) * 1000:.0f} µs")
                table.add_row(label, what, "-", *us, "", "", "")
                saved.append({"threads": label, "what": what, "bucket": None, "n": n * 10})
                saved[-1] |= {"p50_ms": pct(s, 0.5), "p99_ms": pct(s, 0.99), "mean_ms": statistics.fmean(s)}
                continue
            for bucket, qs in queries.items():
                s, c = time_calls(fn, qs, n)
                stats = (
                    f"{pct(s, 0.5):.2f}",
                    f"{pct(s, 0.99):.2f}",
                    f"{statistics.fmean(s):.2f}",
                    f"{pct(c, 0.5):.2f}",
                )
                share = fast_share(staged, qs) if what.startswith("two-stage") else None
                table.add_row(label, what, bucket, *stats, "" if share is None else f"{share:.0%}")
                saved.append({"threads": label, "what": what, "bucket": bucket, "n": n})
                saved[-1] |= {"p50_ms": pct(s, 0.5), "p99_ms": pct(s, 0.99), "mean_ms": statistics.fmean(s)}
                saved[-1] |= {"cpu_p50_ms": pct(c, 0.5), "cpu_p99_ms": pct(c, 0.99), "static_share": share}
    console.print(table)
    if (path := saving.save(saved)) is not None:
        console.print(f"saved {path}", highlight=False)
    console.print(
        f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other work on the machine inflates every number)"
    )


def _decide(kind: str) -> Factory:
    def factory() -> Call:
        _, classifier, semantic = build(threads=0)
        routers: dict[str, ClassifierRouter | SemanticRouter] = {
            "classifier": classifier,
            "semantic": semantic,
            "two-stage": build_staged(classifier)[1],
        }
        router = routers[kind]

        async def call(request: ChatRequest) -> Decision:
            return router.decide_sync(request)

        return call

    return factory


#: (name, factory) rows for bench/route_latency.py.
BENCHES: list[tuple[str, Factory]] = [
    ("classifier (default artefact) decide", _decide("classifier")),
    ("two-stage classifier (default-static → default) decide", _decide("two-stage")),
    ("embedding routes (8 x 20 utterances) decide", _decide("semantic")),
]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="timed calls per row")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="onnxruntime intra-op threads")
    results = Path(__file__).resolve().parent / "results" / "encoder_routers_latency.json"
    parser.add_argument("--save", type=Path, nargs="?", const=results, help="write the rows as JSON")
    args = parser.parse_args()
    np.seterr(all="ignore")
    run(args.n, args.threads, Console(), args.save)
