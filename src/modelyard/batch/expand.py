"""``modelyard batch expand``: a template × the product of its variable lists → a batch input file.

Template (YAML)::

    variables:
      problem: {file: problems.jsonl}     # one JSON object a line, or a .txt with one value a line
      language: [python, java, cpp]
      flavour: [tutorial, interview, story]
    custom_id: "{problem.slug}/{language}/{flavour}"
    url: /v1/chat/completions             # the default
    body:
      model: content
      messages:
        - {role: user, content: "Write a {flavour} solution of {problem.title} in {language}."}

Every string in ``custom_id`` and ``body`` is a Python format string over the
variables; a variable whose values are mappings exposes their fields as
``{name.field}`` (and ``{name}`` is its ``id``, ``slug`` or ``name`` field).
Variables are combined in the order written, the first varying slowest.
"""

from __future__ import annotations

import itertools
import json
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml

from modelyard.batch.dispatch import ENDPOINTS
from modelyard.batch.format import MAX_CUSTOM_ID

__all__ = ["ExpandError", "expand", "expand_file"]


class ExpandError(ValueError):
    """A template that cannot be expanded; the message names the file and key."""


class _Fields:
    """A mapping value: ``{name.field}`` reads a field, ``{name}`` its id."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(key) from None

    def __str__(self) -> str:
        for key in ("id", "slug", "name"):
            if key in self._data:
                return str(self._data[key])
        return json.dumps(self._data, sort_keys=True)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _values(name: str, raw: Any, base: Path, source: str) -> list[Any]:
    if isinstance(raw, dict) and set(raw) == {"file"}:
        path = (base / str(raw["file"])).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ExpandError(f"{source}: variables.{name}.file: cannot read {path}: {exc.strerror}") from None
        lines = [line for line in text.splitlines() if line.strip()]
        if path.suffix in (".jsonl", ".ndjson"):
            try:
                raw = [json.loads(line) for line in lines]
            except json.JSONDecodeError as exc:
                raise ExpandError(f"{source}: variables.{name}.file: {path}: not JSON lines ({exc})") from None
        else:
            raw = [line.strip() for line in lines]
    if not isinstance(raw, list) or not raw:
        raise ExpandError(f"{source}: variables.{name}: expected a non-empty list or {{file: PATH}}")
    return [_Fields(v) if isinstance(v, dict) else v for v in raw]


def _fill(node: Any, env: dict[str, Any], where: str, source: str) -> Any:
    if isinstance(node, str):
        try:
            return string.Formatter().vformat(node, (), env)
        except KeyError as exc:
            raise ExpandError(f"{source}: {where}: unknown variable {exc.args[0]!r}") from None
        except (AttributeError, IndexError, ValueError) as exc:
            raise ExpandError(f"{source}: {where}: {exc}") from None
    if isinstance(node, list):
        return [_fill(v, env, f"{where}[{i}]", source) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {k: _fill(v, env, f"{where}.{k}", source) for k, v in node.items()}
    return node


def expand(template: dict[str, Any], *, base: Path, source: str = "<template>") -> Iterator[dict[str, Any]]:
    """Yield one input line per combination; raises `ExpandError` naming what is wrong."""
    if not isinstance(template, dict):
        raise ExpandError(f"{source}: expected a mapping at the top")
    unknown = set(template) - {"variables", "custom_id", "url", "body"}
    if unknown:
        raise ExpandError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    variables = template.get("variables")
    if not isinstance(variables, dict) or not variables:
        raise ExpandError(f"{source}: variables: expected a mapping of name → list")
    cid = template.get("custom_id")
    if not isinstance(cid, str) or not cid:
        raise ExpandError(f"{source}: custom_id: expected a format string such as \"{{problem}}/{{language}}\"")
    url = template.get("url", "/v1/chat/completions")
    if url not in ENDPOINTS:
        raise ExpandError(f"{source}: url: {url!r} is not served; expected one of {', '.join(sorted(ENDPOINTS))}")
    body = template.get("body")
    if not isinstance(body, dict):
        raise ExpandError(f"{source}: body: expected a mapping (the request body)")
    names = list(variables)
    lists = [_values(n, variables[n], base, source) for n in names]
    seen: set[str] = set()
    for combo in itertools.product(*lists):
        env = dict(zip(names, combo, strict=True))
        custom_id = _fill(cid, env, "custom_id", source)
        if custom_id in seen:
            raise ExpandError(f"{source}: custom_id {custom_id!r} repeats; make custom_id use every variable")
        if len(custom_id) > MAX_CUSTOM_ID:
            raise ExpandError(f"{source}: custom_id {custom_id[:40]!r}… is longer than {MAX_CUSTOM_ID} characters")
        seen.add(custom_id)
        yield {"custom_id": custom_id, "method": "POST", "url": url, "body": _fill(body, env, "body", source)}


def expand_file(path: Path, out: Path | None) -> int:
    """Expand the template at ``path`` into ``out`` (standard output when None); the number of lines."""
    try:
        template = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExpandError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ExpandError(f"{path}: not valid YAML: {exc}") from None
    lines = expand(template, base=path.parent, source=str(path))
    count = 0
    if out is None:
        for line in lines:
            sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
            count += 1
        sys.stdout.flush()
        return count
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("wb") as fh:
        for line in lines:
            fh.write(orjson.dumps(line) + b"\n")
            count += 1
    tmp.replace(out)
    return count
