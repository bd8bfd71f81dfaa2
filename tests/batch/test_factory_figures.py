"""The README's batch figures and the progress display, checked (README: "Batch jobs").

- The content factory exactly as the README runs it (``batch expand`` → ``batch run
  --budget 5`` on examples/content-pipeline.yaml, SIMULATED models → ``batch report``):
  90 items, $2.66 spent against $3.85 had every item gone to the top writer (30.9% less),
  30% of items escalated; and ``--plot`` writes the PNG.
- The progress display: done, failed, rate, ETA, spend so far and projected — each line
  read back as numbers, the projection checked against where the run really ended.
- The overall concurrency cap: never more items in flight than ``--concurrency``.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from modelyard.batch import RunOptions
from modelyard.batch.progress import ProgressDisplay
from modelyard.batch.runner import RunStats
from tests.batch.conftest import SIM_BATCH, chat_line, run_local, write_lines
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "modelyard.cli"]


def test_the_content_factory_figures_in_the_readme(tmp_path: Path) -> None:
    factory = tmp_path / "factory.jsonl"
    out = tmp_path / "factory.out.jsonl"
    pipeline = str(ROOT / "examples" / "content-pipeline.yaml")
    template = str(ROOT / "examples" / "content-factory" / "template.yaml")
    steps = [
        [*CLI, "batch", "expand", template, "-o", str(factory)],
        [*CLI, "batch", "run", str(factory), "--out", str(out), "-c", pipeline, "--budget", "5"],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    # without a terminal the progress display ends with one plain line of the final figures
    final = done.stderr.strip().splitlines()[-1]
    assert re.match(
        r"90/90 done, 0 failed, 0 in flight, [\d,.]+ items/s, ETA 0s, spent \$2\.\d{4} of \$5\.0000, "
        r"projected \$2\.\d{4}$",
        final,
    ), done.stderr
    checkpoint = tmp_path / "factory.out.checkpoint.sqlite"
    plot = tmp_path / "factory.png"
    report = subprocess.run(
        [*CLI, "batch", "report", str(checkpoint), "--json", "--plot", str(plot)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert (figures["total"], figures["done"], figures["failed"]) == (90, 90, 0)
    assert round(figures["spent_usd"], 2) == 2.66
    assert round(figures["counterfactual_usd"], 2) == 3.85
    assert round(100 * figures["saving"], 1) == 30.9
    assert figures["escalation_rate"] == 0.30
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_LINE = re.compile(
    r"(?P<done>[\d,]+)/(?P<total>[\d,]+) done, (?P<failed>\d+) failed, (?P<in_flight>\d+) in flight, "
    r"(?P<rate>[\d,.]+) items/s, ETA (?P<eta>\S+), spent \$(?P<spent>[\d,.]+) of \$10\.0000, "
    r"projected \$(?P<projected>[\d,.]+)"
)


@dataclass(frozen=True)
class Line:
    """One progress line, read back as numbers."""

    done: int
    total: int
    failed: int
    in_flight: int
    rate: float
    eta: str
    spent: float
    projected: float


def _read(text: str) -> list[Line]:
    out = []
    for match in filter(None, map(_LINE.search, text.splitlines())):
        g = {k: v.replace(",", "") for k, v in match.groupdict().items()}
        out.append(
            Line(
                int(g["done"]),
                int(g["total"]),
                int(g["failed"]),
                int(g["in_flight"]),
                float(g["rate"]),
                g["eta"],
                float(g["spent"]),
                float(g["projected"]),
            )
        )
    return out


async def test_progress_shows_done_failed_rate_eta_spend_and_a_projection_that_holds(tmp_path: Path) -> None:
    slow = SIM_BATCH.replace(
        "options: {output_tokens: 10}\n  top", "options: {output_tokens: 10, latency_ms: 40}\n  top"
    )
    config = make_config(slow)
    lines = [chat_line(f"i{i}", f"item number {i:03d}") for i in range(100)]
    lines.append(chat_line("bad", "x", temperature=7))  # one item the model refuses: counted as failed
    src = write_lines(tmp_path / "in.jsonl", lines)
    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, width=400), live=False, every_s=0.0)
    peak: list[int] = []

    def on_progress(stats: RunStats) -> None:
        peak.append(stats.in_flight)
        display(stats)

    started = time.perf_counter()
    with display:
        result = await run_local(
            config, tmp_path, src, concurrency=2, on_progress=on_progress, options=RunOptions(budget_usd=10.0)
        )
    elapsed = time.perf_counter() - started
    rows = _read(buffer.getvalue())
    assert len(rows) >= 20, buffer.getvalue()
    assert all(r.total == 101 for r in rows)
    assert [r.done for r in rows] == sorted(r.done for r in rows)  # never goes back
    last = rows[-1]
    assert (last.done, last.failed, last.in_flight, last.eta) == (100, 1, 0, "0s")
    assert last.spent == last.projected == round(result.stats.spent_usd, 4)
    early = next(r for r in rows if r.done >= 10)  # 90 items left, 2 at a time × 40 ms: ≥ 1.8 s to go
    assert early.rate > 0 and 1 <= _seconds(early.eta) <= elapsed + 2
    mid = next(r for r in rows if r.done >= 50)
    assert mid.rate > 0 and 0 < mid.spent < last.spent
    assert abs(mid.projected - last.spent) <= 0.05 * last.spent  # equal items: the projection holds
    # the overall cap: never more than 2 items in flight, and the run took as long as that implies
    assert max(peak) <= 2
    assert elapsed >= (100 / 2) * 0.040 * 0.9


def _seconds(eta: str) -> int:
    """``1m05s`` / ``42s`` / ``1h02m03s`` as seconds (what `format_duration` writes)."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+)s", eta)
    assert parts is not None, eta
    h, m, s = (int(g or 0) for g in parts.groups())
    return 3600 * h + 60 * m + s
