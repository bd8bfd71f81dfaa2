"""Files → chunks with ids and metadata, for ``modelyard index add``.

* ``.jsonl``: one object per line; the text is ``text`` (or ``content``/``body``),
  the id ``id`` (else ``FILE:LINE``); every other string/number/bool field becomes
  metadata.
* ``.md`` / ``.markdown``: split at headings; each chunk's ``section`` is its
  heading path (``Billing > Refunds``).
* anything else is read as UTF-8 text.

Long texts are cut at paragraph, then sentence, then character boundaries into
pieces of at most ``max_chars`` with ``overlap`` characters carried over.
Every chunk's metadata has ``source`` (the file name) and ``chunk`` (its index).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.retrieval.base import Metadata

__all__ = ["Chunk", "chunk_file", "split_text"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Chunk:
    id: str
    text: str
    metadata: Metadata = field(default_factory=dict)


def split_text(text: str, max_chars: int = 800, overlap: int = 100) -> list[str]:
    """Pieces of at most ``max_chars``, cut at paragraph, sentence or (last resort) character boundaries."""
    units: list[tuple[str, str]] = []  # (text, how it joins the one before: paragraph or sentence)
    for para in re.split(r"\n\s*\n", text.strip()):
        para = para.strip()
        if not para:
            continue
        if len(para) <= max_chars:
            units.append((para, "\n\n"))
            continue
        joiner = "\n\n"
        for sentence in _SENTENCE.split(para):
            while len(sentence) > max_chars:
                units.append((sentence[:max_chars], joiner))
                sentence = sentence[max_chars - overlap :]
                joiner = ""
            if sentence:
                units.append((sentence, joiner))
            joiner = " "
    pieces: list[str] = []
    current = ""
    for unit, joiner in units:
        if current and len(current) + len(joiner) + len(unit) > max_chars:
            pieces.append(current)
            tail = current[-overlap:] if overlap else ""
            current = f"{tail} {unit}".strip() if tail and len(tail) + 1 + len(unit) <= max_chars else unit
        else:
            current = f"{current}{joiner}{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def _markdown_sections(text: str) -> list[tuple[str, str]]:
    """(heading path, text) per section; a heading with no text of its own is kept for the next section."""
    sections: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    has_text = False

    def flush() -> None:
        content = "\n".join(body).strip()
        if content and has_text:
            sections.append((" > ".join(t for _, t in path), content))
            body.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush()
            if not body:  # a new section starts; headings without text stay in ``body``
                has_text = False
            level = len(heading.group(1))
            path[:] = [(lvl, t) for lvl, t in path if lvl < level]
            path.append((level, heading.group(2)))
            body.append(heading.group(2))
        else:
            body.append(line)
            has_text = has_text or bool(line.strip())
    has_text = True
    flush()
    return sections


def chunk_file(path: Path, *, max_chars: int = 800, overlap: int = 100, extra: Metadata | None = None) -> list[Chunk]:
    """Chunks of one file; ValueError naming the file (and line) when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read as UTF-8 text ({type(exc).__name__})") from None
    base: Metadata = {"source": path.name, **(extra or {})}
    chunks: list[Chunk] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: each line must be a JSON object")
            body = next((row[k] for k in ("text", "content", "body") if isinstance(row.get(k), str)), None)
            if body is None:
                raise ValueError(f"{path}:{number}: no 'text' (or 'content'/'body') string field")
            row_id = str(row.get("id", f"{path.name}:{number}"))
            meta: Metadata = dict(base)
            meta.update(
                {
                    k: v
                    for k, v in row.items()
                    if k not in ("id", "text", "content", "body") and isinstance(v, str | int | float | bool)
                }
            )
            pieces = split_text(body, max_chars, overlap)
            for i, piece in enumerate(pieces):
                chunks.append(Chunk(row_id if len(pieces) == 1 else f"{row_id}#{i}", piece, {**meta, "chunk": i}))
        return chunks
    sections = _markdown_sections(text) if suffix in (".md", ".markdown") else [("", text)]
    index = 0
    for section, content in sections:
        for piece in split_text(content, max_chars, overlap):
            meta = {**base, "chunk": index}
            if section:
                meta["section"] = section
            chunks.append(Chunk(f"{path.name}:{index}", piece, meta))
            index += 1
    return chunks
