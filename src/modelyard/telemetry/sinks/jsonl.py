"""JSON lines: one record per line (``-`` is stdout); feedback lines are ``{"feedback": {...}}``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.sinks.base import Item, writer_class

__all__ = ["JsonlSink", "iter_jsonl", "read_jsonl"]


class JsonlSink:
    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"jsonl:{path}"
        self._out: IO[str] | None = None

    def open(self) -> None:
        if self.path == "-":
            self._out = sys.stdout
            return
        target = Path(self.path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        self._out = target.open("a", encoding="utf-8")

    def write(self, items: Sequence[Item]) -> None:
        assert self._out is not None, "open() first"
        lines = []
        for item in items:
            if isinstance(item, Feedback):
                lines.append('{"feedback": ' + item.model_dump_json() + "}")
            else:
                lines.append(item.to_json())
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None and self._out is not sys.stdout:
            self._out.close()
        self._out = None

    def writer_spec(self) -> dict[str, str] | None:
        """What a writer process builds this sink from; None for stdout (``-``), which stays the gateway's."""
        if self.path == "-":
            return None
        return {"sink": writer_class(type(self)), "path": str(Path(self.path).expanduser().absolute())}

    @classmethod
    def from_writer_spec(cls, spec: Mapping[str, Any]) -> JsonlSink:
        """The copy a writer process builds from `writer_spec`."""
        return cls(spec["path"])

    # -- reading back ------------------------------------------------------------

    def query(self, *, since: float | None = None, limit: int | None = None) -> list[Record]:
        return read_jsonl(Path(self.path).expanduser(), since=since, limit=limit)

    def get(self, request_id: str) -> Record | None:
        return next((r for r in self.query() if r.request_id == request_id), None)


def read_jsonl(path: Path, *, since: float | None = None, limit: int | None = None) -> list[Record]:
    """Records of a JSONL file with their feedback joined; lines of other schema versions are skipped."""
    records: dict[str, Record] = {}
    feedback: list[Feedback] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            if "feedback" in row:
                feedback.append(Feedback.model_validate(row["feedback"]))
            elif row.get("schema_version") == 1 and (since is None or row.get("time", 0) >= since):
                record = Record.model_validate(row)
                records[record.request_id] = record
    for fb in feedback:
        if fb.request_id in records:
            records[fb.request_id].feedback.append(fb)
    out = sorted(records.values(), key=lambda r: r.time)
    return out[-limit:] if limit else out


def iter_jsonl(path: Path) -> Iterator[Record | Feedback]:
    """Records and feedback of a JSONL file one at a time, in file order (other schema versions skipped)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            if "feedback" in row:
                yield Feedback.model_validate(row["feedback"])
            elif row.get("schema_version") == 1:
                yield Record.model_validate(row)
