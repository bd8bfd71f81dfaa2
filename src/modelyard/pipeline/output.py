"""A stage's structured output: find the JSON in an answer and check it against the stage's schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]

__all__ = ["check_output", "schema_instruction"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


def schema_instruction(schema: dict[str, Any]) -> str:
    return "Answer with one JSON value only, no prose, matching this JSON schema: " + json.dumps(schema)


def _json_in(text: str) -> Any:
    body = text.strip()
    fenced = _FENCE.search(body)
    if fenced:
        body = fenced.group(1)
    try:
        return json.loads(body)
    except ValueError:
        pass
    for opener, closer in (("{", "}"), ("[", "]")):  # the first balanced-looking object in prose
        start, end = body.find(opener), body.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(body[start : end + 1])
            except ValueError:
                continue
    raise ValueError("the answer holds no JSON value")


def check_output(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(parsed value, None) when ``text`` holds JSON matching ``schema``; (None, what is wrong) otherwise."""
    try:
        value = _json_in(text)
    except ValueError as exc:
        return None, str(exc)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return value, None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return None, f"at {where}: {error.message}"[:300]
