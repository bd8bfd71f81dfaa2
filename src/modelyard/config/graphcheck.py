"""Template references and cycle checks for config sections (no imports above the data layer)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from typing import Any

__all__ = ["levels_or_cycle", "referenced"]

_REF = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")


def referenced(value: Any, root: str) -> set[str]:
    """Names ``N`` of every ``{{root.N…}}`` in ``value`` (strings, lists, mappings)."""
    out: set[str] = set()
    if isinstance(value, str):
        for m in _REF.finditer(value):
            parts = m.group(1).split(".")
            if parts[0] == root and len(parts) > 1:
                out.add(parts[1])
    elif isinstance(value, Mapping):
        for v in value.values():
            out |= referenced(v, root)
    elif isinstance(value, list | tuple):
        for v in value:
            out |= referenced(v, root)
    return out


def levels_or_cycle(deps: Mapping[str, Set[str]]) -> list[list[str]] | str:
    """Levels of the graph, or a message naming the nodes on (or behind) a cycle."""
    remaining = {k: set(v) for k, v in deps.items()}
    out: list[list[str]] = []
    while remaining:
        ready = [k for k, v in remaining.items() if not v]
        if not ready:
            return f"dependency cycle among: {', '.join(sorted(remaining))}"
        out.append(ready)
        for k in ready:
            del remaining[k]
        for v in remaining.values():
            v.difference_update(ready)
    return out
