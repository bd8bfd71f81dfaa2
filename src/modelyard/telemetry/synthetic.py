"""Synthetic traffic records, bulk-loaded: millions of rows for scale tests and benches.

`bulk_fill` writes ``n`` records spread over a time range straight into a SQL
store — the same ``records`` rows and the same rollups (`RollupBatch` over
`Facts`) the sink writes, without building a pydantic `Record` per row — in
large transactions. Records are deterministic for a seed: a mix of models,
families, routes and routers, a few errors and safe defaults, fallbacks,
escalations and judge scores, log-normal latencies. Each stored body is a
valid `Record` (the dashboard's "latest" rows parse it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelyard.telemetry.rollup import N_BUCKETS, SPANS, Agg, RollupBatch
from modelyard.telemetry.sinks.sql import SqlStore
from modelyard.telemetry.sinks.sql_rollups import write_batch

__all__ = ["MIX", "Columns", "Synthetic", "bulk_fill", "record_rows", "rollups_of", "synthetic_columns"]


@dataclass(frozen=True)
class Synthetic:
    """One kind of request in the mix: who answered, through which route, at what price."""

    model: str
    family: str
    router: str
    route: tuple[str, ...]
    weight: int
    latency_ms: float  # median
    usd_per_1k_tokens: float


MIX = (
    Synthetic("tiny", "slm", "default", ("default",), 50, 40.0, 0.0002),
    Synthetic("enc", "mlm", "classify", ("classify",), 15, 8.0, 0.00001),
    Synthetic("terse", "slm", "cheap-first", ("cheap-first",), 10, 30.0, 0.0003),
    Synthetic("mixer", "moe", "cheap-first", ("cheap-first",), 8, 250.0, 0.002),
    Synthetic("big", "llm", "deep", ("deep",), 7, 900.0, 0.012),
    Synthetic("mixer", "moe", "smart", ("smart", "deep"), 5, 300.0, 0.002),
    Synthetic("eyes", "vlm", "vision", ("vision",), 5, 450.0, 0.004),
)


_BODY = (
    '{"schema_version":1,"request_id":"%s","time":%r,"endpoint":"chat","requested":"%s","status":"%s",'
    '"error_kind":%s,"router":"%s","route":%s,"reason":"synthetic","model":"%s","family":"%s",'
    '"provider":"sim","simulated":true,"fallbacks":%d,"escalations":%d,"latency_ms":%r,'
    '"input_tokens":%d,"output_tokens":%d,"cost_usd":%r,"quality":%s}'
)
_STATUS = ("ok", "error", "safe_default")


@dataclass
class Columns:
    """``n`` synthetic records as numpy columns (times evenly spread over [start, end), in order)."""

    time: Any
    kind: Any
    latency: Any
    tokens_in: Any
    tokens_out: Any
    cost: Any
    status: Any  # index into _STATUS
    fallbacks: Any
    escalations: Any
    quality: Any  # NaN for none


def synthetic_columns(n: int, start: float, end: float, *, seed: int = 7) -> Columns:
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = np.array([k.weight for k in MIX], dtype=float)
    kind = rng.choice(len(MIX), size=n, p=weights / weights.sum())
    median = np.array([k.latency_ms for k in MIX])[kind]
    price = np.array([k.usd_per_1k_tokens for k in MIX])[kind]
    tokens_in, tokens_out = rng.integers(20, 401, size=n), rng.integers(1, 301, size=n)
    roll = rng.random(n)
    judged = np.array([k.router == "cheap-first" for k in MIX])[kind]
    escalates = np.array([k.router == "cheap-first" and k.model != "terse" for k in MIX])[kind]
    return Columns(
        time=start + np.arange(n) * ((end - start) / max(n, 1)),
        kind=kind,
        latency=rng.lognormal(0.0, 0.5, size=n) * median,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=(tokens_in + tokens_out) * price / 1000.0,
        status=np.where(roll < 0.01, 1, np.where(roll < 0.015, 2, 0)),
        fallbacks=(rng.random(n) < 0.03).astype(np.int64),
        escalations=escalates.astype(np.int64),
        quality=np.where(judged, np.round(rng.random(n), 2), np.nan),
    )


def record_rows(c: Columns, lo: int, hi: int, seed: int) -> list[tuple[Any, ...]]:
    """``records`` table rows (the sink's column order) for records ``lo`` .. ``hi`` of ``c``."""
    rows = []
    cols = zip(
        c.time[lo:hi].tolist(), c.kind[lo:hi].tolist(), c.latency[lo:hi].tolist(), c.tokens_in[lo:hi].tolist(),
        c.tokens_out[lo:hi].tolist(), c.cost[lo:hi].tolist(), c.status[lo:hi].tolist(),
        c.fallbacks[lo:hi].tolist(), c.escalations[lo:hi].tolist(), c.quality[lo:hi].tolist(), strict=True,
    )  # fmt: skip
    routes = [(" → ".join(k.route), json.dumps(list(k.route), ensure_ascii=False)) for k in MIX]
    for i, (t, k, lat, tin, tout, cost, st, fb, esc, q) in enumerate(cols, start=lo):
        kind = MIX[k]
        rid = f"syn-{seed}-{i:09d}"
        status = _STATUS[st]
        err = '"upstream"' if st == 1 else "null"
        quality = "{}" if q != q else '{"judge_score":%r}' % q  # noqa: UP031 — NaN test, then a fast format
        body = _BODY % (
            rid, t, kind.router, status, err, kind.router, routes[k][1], kind.model, kind.family, fb, esc, lat,
            tin, tout, cost, quality,
        )  # fmt: skip
        rows.append(
            (
                rid,
                t,
                None,
                "chat",
                kind.router,
                routes[k][0],
                kind.model,
                kind.family,
                "sim",
                status,
                "upstream" if st == 1 else None,
                lat,
                None,
                tin,
                tout,
                cost,
                esc,
                fb,
                1,
                1,
                body,
            )
        )
    return rows


def rollups_of(c: Columns, lo: int, hi: int) -> RollupBatch:
    """The rollup rows of records ``lo`` .. ``hi`` (what `RollupBatch.add` would sum, vectorised)."""
    import numpy as np

    batch = RollupBatch()
    t, kind, lat = c.time[lo:hi], c.kind[lo:hi], c.latency[lo:hi]
    bucket = np.where(lat < 0.5, 0, np.minimum(N_BUCKETS - 1, 1 + np.floor(np.log(lat / 0.5) / np.log(1.25))))
    bucket = bucket.astype(np.int64)
    q = c.quality[lo:hi]
    for span in SPANS:
        starts = (np.floor(t / span) * span).astype(np.int64)
        uniq, slot = np.unique(starts * len(MIX) + kind, return_inverse=True)
        g = len(uniq)

        def total(values: Any, _slot: Any = slot, _g: int = g) -> Any:
            return np.bincount(_slot, weights=values, minlength=_g)

        ones = np.ones(hi - lo)
        sums = {
            "n": total(ones),
            "errors": total(c.status[lo:hi] == 1),
            "safe_defaults": total(c.status[lo:hi] == 2),
            "fallbacks": total(c.fallbacks[lo:hi]),
            "escalations": total(c.escalations[lo:hi]),
            "input_tokens": total(c.tokens_in[lo:hi]),
            "output_tokens": total(c.tokens_out[lo:hi]),
            "cost_usd": total(c.cost[lo:hi]),
            "quality_sum": total(np.nan_to_num(q)),
            "quality_n": total(~np.isnan(q)),
            "lat_sum": total(lat),
        }
        hist = np.bincount(slot * N_BUCKETS + bucket, minlength=g * N_BUCKETS).reshape(g, N_BUCKETS)
        lat_min, lat_max = np.full(g, np.inf), np.full(g, -np.inf)
        np.minimum.at(lat_min, slot, lat)
        np.maximum.at(lat_max, slot, lat)
        for j, key in enumerate(uniq.tolist()):
            start, k = divmod(key, len(MIX))
            kind_j = MIX[k]
            n = int(sums["n"][j])
            agg = Agg(
                n=n,
                errors=int(sums["errors"][j]),
                safe_defaults=int(sums["safe_defaults"][j]),
                simulated=n,
                escalated=int(sums["escalations"][j]),
                fell_back=int(sums["fallbacks"][j]),
                fallbacks=int(sums["fallbacks"][j]),
                escalations=int(sums["escalations"][j]),
                input_tokens=int(sums["input_tokens"][j]),
                output_tokens=int(sums["output_tokens"][j]),
                cost_usd=float(sums["cost_usd"][j]),
                quality_sum=float(sums["quality_sum"][j]),
                quality_n=int(sums["quality_n"][j]),
                lat_sum=float(sums["lat_sum"][j]),
                hist=hist[j].tolist(),
                lat_min=float(lat_min[j]),
                lat_max=float(lat_max[j]),
            )
            key_j = (span, start, kind_j.model, kind_j.family, " → ".join(kind_j.route), kind_j.router)
            batch.rows[key_j] = agg
            price = batch.prices.setdefault((span, start, kind_j.model), [0.0, 0])
            price[0] += agg.cost_usd
            price[1] += agg.input_tokens + agg.output_tokens
    return batch


def bulk_fill(store: SqlStore, n: int, start: float, end: float, *, seed: int = 7, chunk: int = 100_000) -> int:
    """Write ``n`` synthetic records (and their rollups) over [start, end); returns the number written.

    The database must be migrated (open a sink on it first). Commits every
    ``chunk`` records; memory is bounded by the chunk (plus numpy columns of
    ``n`` numbers).
    """
    conn: Any = store.connect()
    insert = store.sql(
        "INSERT INTO records (request_id, time, tenant, endpoint, router, route, model, family, provider, "
        "status, error_kind, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, escalations, "
        f"fallbacks, simulated, record_version, body) VALUES ({', '.join(['?'] * 21)})"
    )
    written = 0
    try:
        cur = conn.cursor()
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            cols = synthetic_columns(
                hi - lo, start + (end - start) * lo / n, start + (end - start) * hi / n, seed=seed + lo
            )
            cur.executemany(insert, record_rows(cols, 0, hi - lo, seed * 1_000_003 + lo))
            write_batch(cur, rollups_of(cols, 0, hi - lo), store.upsert_statements)
            conn.commit()
            written += hi - lo
    finally:
        conn.close()
    return written
