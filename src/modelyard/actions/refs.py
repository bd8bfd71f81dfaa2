"""``{{ path }}`` references inside JSON values: find them, and fill them in.

One small template language is shared by action graphs (``{{steps.fetch.result.total}}``,
``{{inputs.quarter}}``) and pipelines (``{{request.text}}``, ``{{stages.kb.output}}``):

* a string that is exactly one reference becomes the referenced value itself
  (a number stays a number, a list stays a list);
* a reference inside a longer string is replaced by the value as text
  (strings as they are, anything else as compact JSON);
* a path walks mapping keys and list indexes: ``steps.crm.result.accounts.0.name``.

A missing path raises `ReferenceLookupError` naming the whole path and the
first part that was not found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from modelyard.config.graphcheck import referenced

__all__ = ["ReferenceLookupError", "lookup", "referenced_names", "references", "render"]

_REF = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")


class ReferenceLookupError(KeyError):
    """A ``{{ path }}`` named something that is not there."""

    def __init__(self, path: str, missing: str) -> None:
        super().__init__(path)
        self.path = path
        self.missing = missing

    def __str__(self) -> str:
        return f"{{{{{self.path}}}}}: {self.missing!r} not found"


def references(value: Any) -> list[str]:
    """Every reference path in ``value`` (strings, lists and mappings, walked deeply), in order."""
    found: list[str] = []
    _walk(value, found)
    return found


def _walk(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.extend(m.group(1) for m in _REF.finditer(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            _walk(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _walk(v, found)


def referenced_names(value: Any, root: str) -> set[str]:
    """The second part of every ``{{root.NAME…}}`` reference: the steps (or stages) ``value`` uses."""
    return referenced(value, root)


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``scope``; `ReferenceLookupError` when a part is missing."""
    current: Any = scope
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ReferenceLookupError(path, part)
    return current


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """``value`` with every reference filled in from ``scope`` (a new object; ``value`` is untouched)."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole is not None:
            return lookup(scope, whole.group(1))
        return _REF.sub(lambda m: _as_text(lookup(scope, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, scope) for v in value]
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
