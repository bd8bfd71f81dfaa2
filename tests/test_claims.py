"""docs/claims.md: every README claim points at a check that exists.

The table has one row per claim: an id, the claim, what backs it (tests as
``path::test_name``, bench scripts) and the saved result files. This test
parses it and fails when a pointer is dangling — a file that does not exist, a
test function that is not defined in the file named — when a row has no
pointer, or when a bench is cited without a saved result. Adding a README claim
means adding a row; the test then keeps the row honest. A row may cite
``.ci/run`` (the script CI executes) for claims about the build itself.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "docs" / "claims.md"
HEADER = "| id | claim (README section) | backed by | saved result |"
POINTER = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    line: int
    id: str
    claim: str
    backed_by: list[str]
    saved: list[str]


def parse(text: str) -> list[Row]:
    """The rows of the table under `HEADER` (the separator line is skipped)."""
    lines = text.splitlines()
    start = lines.index(HEADER)
    rows: list[Row] = []
    for n, line in enumerate(lines[start + 2 :], start=start + 3):
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"docs/claims.md:{n}: expected 4 cells, got {len(cells)}: {line}"
        rows.append(Row(n, cells[0], cells[1], POINTER.findall(cells[2]), POINTER.findall(cells[3])))
    return rows


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def dangling(pointer: str) -> str | None:
    """Why ``pointer`` does not resolve, or None."""
    path, _, name = pointer.partition("::")
    file = ROOT / path
    if not file.exists():
        return f"{path}: no such file"
    if name and name not in _functions(file):
        return f"{path}: no function {name!r}"
    return None


ROWS = parse(CLAIMS.read_text(encoding="utf-8"))


def test_the_table_is_there_and_ids_are_unique() -> None:
    assert len(ROWS) >= 50
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids), ids


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_every_claim_points_at_checks_that_exist(row: Row) -> None:
    where = f"docs/claims.md:{row.line} ({row.id})"
    assert row.claim, f"{where}: no claim text"
    assert row.backed_by, f"{where}: nothing backs this claim"
    benches = [p for p in row.backed_by if p.startswith("bench/")]
    if benches:
        assert row.saved, f"{where}: a bench backs it, but no saved result is named"
    assert [p for p in row.backed_by if "::" in p or p.startswith("bench/") or p == ".ci/run"], (
        f"{where}: name a test (path::function), a bench script, or .ci/run (what CI executes)"
    )
    problems = [why for p in row.backed_by + row.saved if (why := dangling(p)) is not None]
    assert not problems, f"{where}: {problems}"


def _lines(path: str) -> int:
    return sum(1 for line in (ROOT / path).read_text(encoding="utf-8").splitlines() if line.strip())


@pytest.mark.parametrize(
    ("fact", "path", "low", "high"),
    [
        ("trained on 3,599 labelled requests", "data/family-queries/train.jsonl", 3599, 3599),
        ("a held-out split of 861 requests", "data/family-queries/test.jsonl", 861, 861),
        ("156 hand-written acceptance requests", "data/family-queries/acceptance.jsonl", 156, 156),
        (
            "SVG charts drawn by ~120 lines of plain JavaScript",
            "src/modelyard/telemetry/dashboard/static/dashboard.js",
            90,
            150,
        ),
    ],
)
def test_counted_facts(fact: str, path: str, low: int, high: int) -> None:
    """README figures that are counts of the repository's own files."""
    assert low <= _lines(path) <= high, fact


@pytest.mark.parametrize(
    ("pointer", "problem"),
    [
        ("tests/test_claims.py::test_every_claim_points_at_checks_that_exist", None),
        ("tests/test_claims.py::no_such_test", "no function 'no_such_test'"),
        ("tests/nope.py::test_x", "no such file"),
        ("bench/results/nope.json", "no such file"),
    ],
)
def test_dangling_pointers_are_caught(pointer: str, problem: str | None) -> None:
    why = dangling(pointer)
    assert (why is None) if problem is None else (why is not None and problem in why)


def test_a_row_without_a_check_or_with_an_unsaved_bench_is_refused() -> None:
    table = "\n".join(
        [
            HEADER,
            "|---|---|---|---|",
            "| a | x | – | – |",
            "| b | y | `bench/soak.py` | – |",
        ]
    )
    a, b = parse(table)
    with pytest.raises(AssertionError, match="nothing backs"):
        test_every_claim_points_at_checks_that_exist(a)
    with pytest.raises(AssertionError, match="no saved result"):
        test_every_claim_points_at_checks_that_exist(b)
