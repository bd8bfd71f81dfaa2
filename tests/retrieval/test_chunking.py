from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.retrieval import chunk_file, split_text


@pytest.mark.parametrize(
    ("text", "max_chars", "overlap", "pieces"),
    [
        ("one\n\ntwo\n\nthree", 100, 0, ["one\n\ntwo\n\nthree"]),
        ("a" * 50 + "\n\n" + "b" * 50, 60, 0, ["a" * 50, "b" * 50]),
        ("First sentence here. Second one here. Third.", 25, 0, ["First sentence here.", "Second one here. Third."]),
        ("x" * 25, 10, 2, ["x" * 10, "x" * 10, "x" * 9]),
    ],
)
def test_split_text(text: str, max_chars: int, overlap: int, pieces: list[str]) -> None:
    out = split_text(text, max_chars, overlap)
    assert all(len(p) <= max_chars for p in out)
    assert out == pieces


def test_markdown_sections_jsonl_fields_and_text(tmp_path: Path) -> None:
    md = tmp_path / "kb.md"
    md.write_text("# Billing\nIntro.\n## Refunds\nRefund within 30 days.\n# Account\n## Password\nReset it.\n")
    chunks = chunk_file(md)
    assert [(c.metadata["section"], c.text) for c in chunks] == [
        ("Billing", "Billing\nIntro."),
        ("Billing > Refunds", "Refunds\nRefund within 30 days."),
        ("Account > Password", "Account\nPassword\nReset it."),  # a heading without text joins the next
    ]
    assert chunks[0].id == "kb.md:0" and chunks[0].metadata["source"] == "kb.md"
    rows = tmp_path / "faq.jsonl"
    rows.write_text(json.dumps({"id": "q1", "text": "How to pay?", "topic": "billing", "tags": ["x"]}) + "\n\n")
    (chunk,) = chunk_file(rows)
    assert (chunk.id, chunk.text, chunk.metadata) == (
        "q1",
        "How to pay?",
        {"source": "faq.jsonl", "topic": "billing", "chunk": 0},
    )
    txt = tmp_path / "notes.txt"
    txt.write_text("plain words")
    assert chunk_file(txt)[0].text == "plain words"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json}\n", r"faq\.jsonl:1: not JSON"),
        ('["a"]\n', "must be a JSON object"),
        ('{"title": "x"}\n', "no 'text'"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "faq.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=error):
        chunk_file(path)
