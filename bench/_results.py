"""Saved benchmark results: one JSON file per bench run, with the conditions it ran under.

Every bench that backs a README figure takes ``--save PATH`` and writes::

    {"bench": "route_latency", "machine": {...}, "settings": {...}, "results": ...}

``machine`` holds the CPU count and model, Python, the commit and how many files
under src/ were uncommitted (or, for code run from a clean ``git archive`` export
via ``PYTHONPATH``, the export's commit from its ``COMMIT`` file), and the load
average before and after the run
(the machine is often shared: a load average above the core count means other
work competed with the measurement). ``docs/claims.md`` points each README
figure at one of these files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "Run"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    import modelyard  # where the measured code came from (a clean export of HEAD, or the work tree)

    src = Path(modelyard.__file__).resolve().parent
    in_tree = src.is_relative_to(ROOT)
    if not in_tree:  # an export (``git archive HEAD src``) carries its commit in a COMMIT file beside src/
        stamp = src.parents[1] / "COMMIT"
        commit.stdout = stamp.read_text().strip() if stamp.is_file() else "unknown (code outside the work tree)"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "modelyard_commit": commit.stdout.strip(),
        "modelyard_src": str(src),
        "modelyard_uncommitted_src_files": len(dirty.stdout.splitlines()) if in_tree else None,
    }


class Run:
    """Start it before measuring (records the load average), `save` after.

    ``path`` None means "do not save" (the bench only prints its table).
    """

    def __init__(self, bench: str, path: Path | None, settings: dict[str, Any]) -> None:
        self.bench = bench
        self.path = path
        self.settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
        self.machine = _machine()
        self.machine["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def save(self, results: Any) -> Path | None:
        """Write the JSON file (parents created); returns its path, or None when not saving."""
        if self.path is None:
            return None
        self.machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        doc = {
            "bench": self.bench,
            "started": self.started,
            "machine": self.machine,
            "settings": self.settings,
            "results": results,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return self.path
