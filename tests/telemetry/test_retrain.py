"""Records → labels → a retrained classifier, compared with the live one; drift."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from modelyard.routing.classifier.train import HeadChoice
from modelyard.telemetry import Feedback, Record
from modelyard.telemetry.relabel import label_records
from modelyard.types import ChatRequest
from tests.telemetry.conftest import SIM, MakeEngine

HARD = [
    "Prove that the square root of {n} is irrational and explain each step of the argument",
    "Derive the closed form of the sum of the first {n} cubes and prove it by induction",
    "Analyse the time complexity of merge sort on {n} elements and justify the recurrence",
]
EASY = ["hi there number {n}", "thanks a lot {n}", "good morning {n}"]
SUMMARY = ["summarise the quarterly sales report for region {n}", "summarise meeting notes from week {n}"]
FAST = [HeadChoice("linear", c=4.0), HeadChoice("linear", c=16.0)]  # keeps the test quick

YAML = (
    SIM
    + """
  terse: {family: slm, provider: sim, options: {text: "ok", label: false}}
routers:
  plain: {kind: fixed, target: tiny}
  mid: {kind: fixed, target: medium}
  cheap-first: {kind: cascade, judge: {kind: heuristic, min_chars: 40}, gate: 0.7, steps: [terse, large]}
telemetry: {capture_text: true}
"""
)


def test_label_rules() -> None:
    base = {"time": 0.0, "prompt": "user: hello"}
    feedback = Feedback(request_id="a", time=1.0, label="large")
    cascade = {"passed": True, "steps": []}
    records = [
        Record(request_id="a", model="tiny", family="slm", cascade=cascade, feedback=[feedback], **base),  # type: ignore[arg-type]
        Record(request_id="b", model="large", family="llm", cascade=cascade, **base),  # type: ignore[arg-type]
        Record(request_id="c", model="large", family="llm", cascade={"passed": False}, **base),  # type: ignore[arg-type]
        Record(request_id="d", model="tiny", family="slm", time=0.0),
    ]
    out = label_records(records)
    assert [(r["label"], r["source"]) for r in out.rows] == [
        ("llm", "log:feedback:a"),
        ("llm", "log:cascade:b"),
    ]
    assert out.rows[0]["text"] == "hello"
    assert sum(out.skipped.values()) == 2 and out.sources == {"feedback": 1, "cascade": 1}


async def test_retrain_from_logs_and_refuse_when_worse(make_engine: MakeEngine, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from modelyard.encoders import default_encoder
    from modelyard.routing.classifier.retrain import retrain_from_records
    from modelyard.routing.classifier.train import LabeledSet, train_router

    engine = make_engine(YAML)
    for n in range(10):
        for t in HARD:
            await engine.chat(ChatRequest.from_text(t.format(n=n), model="cheap-first"))
        for t in EASY:
            done = await engine.chat(ChatRequest.from_text(t.format(n=n), model="plain"))
            assert engine.telemetry is not None
            engine.telemetry.feedback(
                Feedback(request_id=done.trace.request_id, time=time.time(), label="slm")
            )
        for t in SUMMARY:
            done = await engine.chat(ChatRequest.from_text(t.format(n=n), model="mid"))
            engine.telemetry.feedback(
                Feedback(request_id=done.trace.request_id, time=time.time(), label="moe")
            )
    assert engine.telemetry is not None
    records = list(engine.telemetry.recent)
    encoder = default_encoder()
    live = tmp_path / "router.npz"
    first = retrain_from_records(records, encoder, live, live=live, candidates=FAST)
    assert first.old_f1 is None and first.written == live and live.exists()
    assert first.new_f1 > 0.9 and {r["label"] for r in first.labelled.rows} == {"slm", "llm", "moe"}
    # labels the text cannot predict (seeded coin flips); the live router has memorised all of them,
    # so on the shared held-out rows it beats any router trained on the train part alone
    rng = random.Random(3)
    noisy = [
        r.model_copy(
            update={
                "feedback": [
                    Feedback(request_id=r.request_id, time=1.0, label=rng.choice(["slm", "llm", "moe"]))
                ]
            }
        )
        for r in records
    ]
    rows = label_records(noisy).rows
    full = LabeledSet([r["text"] for r in rows], [r["label"] for r in rows], [r["source"] for r in rows])
    memorised = train_router(full, None, encoder, candidates=[HeadChoice("linear", c=1000.0)])
    memorised.artefact.save(live)
    before = live.read_bytes()
    second = retrain_from_records(noisy, encoder, live, live=live, baseline=full, candidates=FAST)
    assert second.old_f1 is not None and second.new_f1 < second.old_f1, (second.new_f1, second.old_f1)
    assert second.refused and second.written is None and live.read_bytes() == before
    assert second.drift is not None and second.drift.centroid_distance is not None
    assert second.drift.centroid_distance < 0.05  # same traffic as the baseline
    forced = retrain_from_records(noisy, encoder, live, live=live, force=True, candidates=FAST)
    assert not forced.refused and live.read_bytes() != before
