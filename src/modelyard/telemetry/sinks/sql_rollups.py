"""The rollup tables of the SQL stores: schema, the UPSERT that adds a batch, and the window reads.

``rollups`` holds one row per span (10 s, 1 h) × start × model × family ×
route × router with the summed columns of `modelyard.telemetry.rollup.Agg`;
``rollup_prices`` the cost and tokens of attempts per span × start × model
(the observed price per model). Both are keyed by their primary key, so the
window reads are range scans of that index. Key fields hold ``""`` for none.

A window read returns aggregates only: groups (≤ distinct keys), a timeline
(≤ spans in the window), costs per family over time, prices per model — the
number of rows never depends on the number of records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelyard.telemetry.rollup import AGG_COLUMNS, SUM_COLUMNS, Agg, RollupBatch
from modelyard.telemetry.view import Reads, Window

__all__ = ["KEY_COLUMNS", "migration_3", "upsert_params", "upsert_sql", "window_reads", "write_batch"]

KEY_COLUMNS = ("span", "start", "model", "family", "route", "router")


def migration_3(float_type: str) -> list[str]:
    aggs = ",\n            ".join(
        f"{c} {float_type} NOT NULL DEFAULT 0"
        if c in ("cost_usd", "quality_sum", "lat_sum")
        else f"{c} BIGINT NOT NULL DEFAULT 0"
        for c in SUM_COLUMNS
    )
    return [
        f"""CREATE TABLE IF NOT EXISTS rollups (
            span INTEGER NOT NULL,
            start BIGINT NOT NULL,
            model TEXT NOT NULL,
            family TEXT NOT NULL,
            route TEXT NOT NULL,
            router TEXT NOT NULL,
            {aggs},
            lat_min {float_type},
            lat_max {float_type},
            PRIMARY KEY (span, start, model, family, route, router)
        )""",
        f"""CREATE TABLE IF NOT EXISTS rollup_prices (
            span INTEGER NOT NULL,
            start BIGINT NOT NULL,
            model TEXT NOT NULL,
            cost_usd {float_type} NOT NULL DEFAULT 0,
            tokens BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (span, start, model)
        )""",
    ]


def upsert_sql(param: str, rows: int, *, least: str, greatest: str) -> tuple[str, str]:
    """Multi-row UPSERT statements (rollups, prices) for ``rows`` rows; one statement, one step.

    One statement per batch instead of ``executemany``: every ``sqlite3_step``
    releases the GIL, and a writer thread that gives the GIL up then waits a
    whole switch interval (5 ms) to get it back from a busy event loop.
    """
    cols = (*KEY_COLUMNS, *AGG_COLUMNS)
    one = "(" + ", ".join([param] * len(cols)) + ")"
    sets = [f"{c} = rollups.{c} + excluded.{c}" for c in SUM_COLUMNS]
    sets += [
        f"lat_min = {least}(rollups.lat_min, excluded.lat_min)",
        f"lat_max = {greatest}(rollups.lat_max, excluded.lat_max)",
    ]
    rollups = (
        f"INSERT INTO rollups ({', '.join(cols)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {', '.join(sets)}"
    )
    p = "(" + ", ".join([param] * 5) + ")"
    prices = (
        f"INSERT INTO rollup_prices (span, start, model, cost_usd, tokens) VALUES {', '.join([p] * rows)} "
        "ON CONFLICT (span, start, model) DO UPDATE SET "
        "cost_usd = rollup_prices.cost_usd + excluded.cost_usd, tokens = rollup_prices.tokens + excluded.tokens"
    )
    return rollups, prices


def chunks(items: Sequence[Any], size: int = 300) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``, each written as one statement of exactly that many rows.

    One statement per slice, whatever its length (issue 14): a writer thread gives the GIL up on
    every ``sqlite3_prepare``/``sqlite3_step`` and, behind a busy event loop, waits a whole switch
    interval (5 ms) to get it back, so the number of statements per batch is what bounds how fast
    it writes — parsing a statement of a new length costs far less than one more statement. 300
    rollup rows are ~26k parameters (SQLite ≥ 3.32 allows 32,766; PostgreSQL 65,535).
    """
    for i in range(0, len(items), size):
        yield items[i : i + size]


def upsert_params(batch: RollupBatch) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rows = [(*key, *agg.row()) for key, agg in batch.rows.items()]
    prices = [(*key, cost, tokens) for key, (cost, tokens) in batch.prices.items()]
    return rows, prices


def write_batch(cur: Any, batch: RollupBatch, statement: Callable[[int], tuple[str, str]]) -> None:
    """Add ``batch`` to the stored rollups (inside the caller's transaction)."""
    rows, prices = upsert_params(batch)
    for part in chunks(rows):
        cur.execute(statement(len(part))[0], [v for row in part for v in row])
    for part in chunks(prices):
        cur.execute(statement(len(part))[1], [v for row in part for v in row])


# -- reading -------------------------------------------------------------------------------


def window_reads(cur: Any, sql: Callable[[str], str], window: Window, *, family_cost: bool = False) -> Reads:
    """Three aggregate queries (four with ``family_cost``) over the rollup primary key."""
    where, params = window.where("?")
    sums = ", ".join([f"SUM({c})" for c in SUM_COLUMNS] + ["MIN(lat_min)", "MAX(lat_max)"])
    out = Reads()
    cur.execute(
        sql(
            f"SELECT model, family, route, router, {sums} FROM rollups WHERE {where} "
            "GROUP BY model, family, route, router"
        ),
        params,
    )
    for row in cur.fetchall():
        agg = Agg()
        agg.merge_row(row[4:])
        out.groups[(str(row[0]), str(row[1]), str(row[2]), str(row[3]))] = agg
    cur.execute(
        sql(f"SELECT start, span, SUM(n), SUM(errors), SUM(cost_usd) FROM rollups WHERE {where} GROUP BY start, span"),
        params,
    )
    for start, span, n, errors, cost in cur.fetchall():
        out.add_time(int(start), int(span), int(n), int(errors), float(cost))
    if family_cost:
        cur.execute(
            sql(f"SELECT start, span, family, SUM(cost_usd) FROM rollups WHERE {where} GROUP BY start, span, family"),
            params,
        )
        for start, span, family, cost in cur.fetchall():
            out.family_cost[(int(start), int(span), str(family))] = float(cost)
    cur.execute(
        sql(f"SELECT model, SUM(cost_usd), SUM(tokens) FROM rollup_prices WHERE {where} GROUP BY model"), params
    )
    for model, cost, tokens in cur.fetchall():
        out.add_price(str(model), float(cost), int(tokens))
    return out
