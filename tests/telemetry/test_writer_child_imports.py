"""The writer process loads telemetry's corner of modelyard, not the engine.

One writer process runs per SQL sink per gateway worker, so what it imports is paid
for many times over. A fresh interpreter imports ``modelyard.telemetry.writer_child``
(what ``python -m`` runs), then serves real frames — open, write, prune, close — to a
real SQLite or JSON-lines sink, or fails to open a PostgreSQL one whose DSN variable
is unset; before and after, none of the engine's heavy modules may have been imported.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelyard.telemetry.sinks.jsonl import JsonlSink
from modelyard.telemetry.sinks.postgres import PostgresSink
from modelyard.telemetry.sinks.sqlite import SqliteSink
from modelyard.telemetry.writer_child import build_sink

#: modules the writer process has no use for; each costs tens of milliseconds and megabytes
HEAVY = (
    "aiohttp",
    "numpy",
    "starlette",
    "modelyard.engine",
    "modelyard.providers",
    "modelyard.routing",
    "modelyard.config.loader",
    "modelyard.telemetry.hub",
    "modelyard.telemetry.metrics",
)

PROBE = textwrap.dedent(
    """
    import io, json, os, sys
    HEAVY = {heavy!r}
    import modelyard.telemetry.writer_child as child
    after_import = [m for m in HEAVY if m in sys.modules]
    from modelyard.telemetry.record import Feedback, Record
    from modelyard.telemetry.wire import CLOSE, OPEN, PRUNE, WRITE, encode_items, read_frame

    def frame(op, payload=b""):
        return (len(payload) + 1).to_bytes(4, "big") + op + payload

    items = [Record(request_id=f"req-{{i}}", time=1_700_000_000.0 + i, model="tiny", family="slm", cost_usd=0.01)
             for i in range(3)] + [Feedback(request_id="req-0", time=1_700_000_001.0, score=1.0)]
    frames = frame(OPEN, json.dumps({spec!r}).encode()) + frame(WRITE, encode_items(items)) + frame(PRUNE, b"0")
    r, w = os.pipe()
    child.serve(io.BytesIO(frames + frame(CLOSE)), w)
    os.close(w)
    answers = []
    with os.fdopen(r, "rb") as out:
        while (got := read_frame(out)) is not None:
            answers.append((got[0].decode(), got[1].decode()))
    print(json.dumps({{"after_import": after_import, "after_serve": [m for m in HEAVY if m in sys.modules],
                      "answers": answers}}))
    """
)


def _serve(spec: dict[str, object]) -> dict[str, list[object]]:
    code = PROBE.format(heavy=HEAVY, spec=spec)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("kind", ["sqlite", "jsonl", "postgres"])
def test_the_writer_process_imports_none_of_the_engine(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"records.{kind}"
    sinks = {  # each sink's own spec: what the gateway sends its writer process
        "sqlite": lambda: SqliteSink(path),
        "jsonl": lambda: JsonlSink(str(path)),
        "postgres": lambda: PostgresSink("MODELYARD_TEST_UNSET_DSN", env={}),
    }
    spec = sinks[kind]().writer_spec()
    assert spec is not None
    facts = _serve(spec)
    assert facts["after_import"] == [], f"`import modelyard.telemetry.writer_child` loaded {facts['after_import']}"
    assert facts["after_serve"] == [], f"serving a {kind} sink loaded {facts['after_serve']}"
    answers = [tuple(a) for a in facts["answers"]]  # type: ignore[arg-type]
    if kind == "postgres":  # the sink was built and opened for real: it fails on the unset DSN variable
        assert answers[0][0] == "E" and "MODELYARD_TEST_UNSET_DSN is not set" in answers[0][1], answers
        return
    assert answers == [("K", ""), ("K", ""), ("K", "0"), ("K", "")], answers  # open, write, prune; closed on C
    if kind == "sqlite":
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM records").fetchone() == (3,)
            assert db.execute("SELECT count(*) FROM feedback").fetchone() == (1,)
    else:
        assert len(path.read_text().splitlines()) == 4  # three records and the feedback


@pytest.mark.parametrize(
    "target",
    ["os:system", "modelyard.telemetry.sinks.base:writer_class", "modelyard.telemetry.sinks.sqlite:", None, 7],
)
def test_a_spec_naming_anything_but_a_sink_class_is_refused(target: object) -> None:
    """The writer process builds only classes of the sinks package that have ``from_writer_spec``."""
    with pytest.raises(ValueError, match="writer process"):
        build_sink({"sink": target, "path": "/nonexistent/never-created"})
