"""Retraining from logs (``modelyard train --from-logs … --baseline``) warns when traffic has drifted.

Records come from real engine traffic (SIMULATED models, text captured, labels
from feedback) in a SQLite sink, read back as the CLI reads them. Retraining
compares recent traffic with the baseline training file in two ways: the
family mix (total-variation distance, warning above 0.20) and the MiniLM
centroid of the prompts (cosine distance, warning above 0.10). The baseline is
the traffic itself (no warning), the same prompts with another family mix (mix
warning only), or other prompts with the same mix (centroid warning only).
One head candidate keeps it quick (the CLI's full model selection takes over a
minute on two shared cores); the drift check does not depend on the head.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from modelyard.encoders import default_encoder
from modelyard.engine import Engine
from modelyard.routing.classifier.retrain import retrain_from_records
from modelyard.routing.classifier.train import HeadChoice, LabeledSet
from modelyard.telemetry import Feedback
from modelyard.telemetry.report import load_records
from modelyard.types import ChatRequest
from tests.telemetry.conftest import SIM, config

ONE_HEAD = [HeadChoice("linear", c=4.0)]

#: (template, router that answers it, feedback label); the answering model's family is the label
TRAFFIC = [
    ("Prove that the square root of {n} is irrational and explain each step", "deep", "llm"),
    ("Derive the closed form of the sum of the first {n} cubes by induction", "deep", "llm"),
    ("hi there number {n}", "plain", "slm"),
    ("thanks a lot for the help {n}", "plain", "slm"),
    ("summarise the quarterly sales report for region {n}", "mid", "moe"),
    ("summarise the meeting notes from week {n}", "mid", "moe"),
]
#: same family mix (llm, slm, moe in equal thirds), about something else entirely
ELSEWHERE = [
    ("Draw a watercolor fox in a snowy forest, picture {n}", "llm"),
    ("Generate an image of a red castle on a hill, variant {n}", "slm"),
    ("Paint a sunset over the harbour with boats, study {n}", "moe"),
]
YAML = (
    SIM
    + """
routers:
  plain: {kind: fixed, target: tiny}
  mid: {kind: fixed, target: medium}
  deep: {kind: fixed, target: large}
telemetry:
  capture_text: true
  flush_interval_ms: 20
  sinks: [{kind: sqlite, path: 'DB'}]
"""
)


@pytest.fixture(scope="module")
def records_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("drift") / "records.db"

    async def fill() -> None:
        async with Engine(config(YAML.replace("DB", str(db)))) as engine:
            assert engine.telemetry is not None
            for n in range(12):
                for template, router, label in TRAFFIC:
                    done = await engine.chat(ChatRequest.from_text(template.format(n=n), model=router))
                    engine.telemetry.feedback(Feedback(request_id=done.trace.request_id, time=time.time(), label=label))
            assert engine.telemetry.flush()

    asyncio.run(fill())
    return db


def _baseline(kind: str) -> LabeledSet:
    if kind == "same traffic":
        rows = [(t.format(n=n), label) for n in range(12) for t, _, label in TRAFFIC]
    elif kind == "other family mix":  # 1/6 llm, 5/6 slm against thirds: distance 0.5
        rows = [(t.format(n=n), "llm" if i == 0 else "slm") for n in range(12) for i, (t, _, _) in enumerate(TRAFFIC)]
    else:
        rows = [(t.format(n=n), label) for n in range(24) for t, label in ELSEWHERE]
    return LabeledSet([t for t, _ in rows], [label for _, label in rows], [f"row:{i}" for i in range(len(rows))])


@pytest.mark.parametrize(
    ("baseline", "warnings"),
    [
        ("same traffic", []),
        ("other family mix", ["family mix moved: total-variation distance 0.50 > 0.20"]),
        ("other prompts", ["prompt embeddings moved: centroid cosine distance"]),
    ],
)
def test_retraining_warns_about_drift(records_db: Path, tmp_path: Path, baseline: str, warnings: list[str]) -> None:
    records = load_records(str(records_db))  # what ``--from-logs`` reads
    done = retrain_from_records(
        records, default_encoder(), tmp_path / "router.npz", baseline=_baseline(baseline), candidates=ONE_HEAD
    )
    assert len(done.labelled.rows) == 72 and done.drift is not None
    assert len(done.drift.warnings) == len(warnings), done.drift
    for shown, expected in zip(done.drift.warnings, warnings, strict=True):
        assert shown.startswith(expected), done.drift
    if baseline == "same traffic":
        assert done.drift.mix_distance == 0 and done.drift.centroid_distance is not None
        assert done.drift.centroid_distance < 0.01
