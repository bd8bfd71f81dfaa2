"""Records → labelled rows for re-training the classifier router.

A record gets a label, in this order: the model or family a user's feedback
says should have answered; else, for a cascade that passed, the family of
the step that passed (steps run cheapest first, so it is the cheapest that
was good enough). Records without a label — or without prompt text, which is
only stored with ``telemetry.capture_text`` — are skipped and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.telemetry.record import Record
from modelyard.types import Family

__all__ = ["Relabelled", "label_records", "prompt_text", "write_labeled"]

_FAMILIES = {f.value for f in Family}
_ROLE_PREFIX = "user: "


@dataclass
class Relabelled:
    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)


def prompt_text(r: Record) -> str | None:
    """The user's words: the captured prompt without the engine's ``role:`` prefixes."""
    if not r.prompt:
        return None
    lines = [ln.removeprefix(_ROLE_PREFIX) for ln in r.prompt.splitlines() if not ln.startswith("system: ")]
    return "\n".join(lines).strip() or None


def label_records(records: Iterable[Record], *, families: Mapping[str, str] | None = None) -> Relabelled:
    """Labels are families; a feedback label naming a model becomes that model's family."""
    records = list(records)
    family_of = dict(families or {})
    family_of.update({r.model: r.family for r in records if r.model and r.family})
    out = Relabelled()
    for r in records:
        text = prompt_text(r)
        if text is None:
            out.skipped["no prompt text (capture_text off)"] += 1
            continue
        label, source = None, ""
        wanted = r.feedback_label
        if wanted:
            label = wanted if wanted in _FAMILIES else family_of.get(wanted)
            source = "feedback"
            if label is None:
                out.skipped[f"feedback label {wanted!r} is neither a family nor a known model"] += 1
                continue
        elif r.cascade and r.cascade.get("passed") and r.family:
            label, source = r.family, "cascade"
        if label is None:
            out.skipped["no feedback label and no passing cascade"] += 1
            continue
        out.rows.append({"text": text, "label": label, "source": f"log:{source}:{r.request_id}"})
        out.sources[source] += 1
    return out


def write_labeled(rows: list[dict[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
