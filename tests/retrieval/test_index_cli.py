"""``modelyard index add`` / ``modelyard index query`` as the README shows them (README: Retrieval).

The embedded default (real MiniLM, the embedded faiss index) in a fresh data dir: three
files of three kinds go in (Markdown, text, JSONL), a question comes back with the right
chunk first, its text and its metadata; ``--where`` filters on metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "modelyard.cli"]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}  # the index lives in the test's dir
    return subprocess.run([*CLI, "index", *args], capture_output=True, text=True, timeout=300, env=env)


def test_index_add_then_query_finds_the_right_chunk_with_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "refunds.md").write_text(
        "# Refunds\n\nA refund for a double charge is issued within five working days.\n\n"
        "# Shipping\n\nParcels leave the warehouse every weekday at noon.\n"
    )
    (tmp_path / "passwords.txt").write_text("To reset your password, open settings and choose 'forgot password'.\n")
    rows = [
        {"id": "gdpr", "text": "We delete personal data on request within thirty days.", "team": "legal"},
        {"id": "sla", "text": "Support answers tickets within four business hours.", "team": "support"},
    ]
    (tmp_path / "policies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    added = _run(
        tmp_path,
        "add",
        "kb",
        str(tmp_path / "refunds.md"),
        str(tmp_path / "passwords.txt"),
        str(tmp_path / "policies.jsonl"),
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert "kb: added 5 chunks from 3 file(s)" in " ".join(added.stdout.split()), added.stdout

    cases = [
        ("I was charged twice, when do I get my money back?", "refund for a double charge", "section", "Refunds"),
        ("how do I change my forgotten password", "reset your password", "source", "passwords.txt"),
        ("how long until you erase my personal information", "delete personal data", "team", "legal"),
    ]
    for question, words, key, value in cases:
        found = _run(tmp_path, "query", "kb", question, "-k", "2", "--json")
        assert found.returncode == 0, found.stderr
        hits = json.loads(found.stdout)
        assert len(hits) == 2 and words in hits[0]["text"], (question, hits)
        assert str(hits[0]["metadata"][key]).endswith(value), hits[0]
        assert hits[0]["score"] >= hits[1]["score"]

    filtered = _run(
        tmp_path, "query", "kb", "how long until you erase my personal information", "--json", "-w", "team=support"
    )
    assert filtered.returncode == 0, filtered.stderr
    hits = json.loads(filtered.stdout)
    assert hits and all(h["metadata"]["team"] == "support" for h in hits)
