"""Turn pydantic and YAML errors into one-line ``file: key.path: reason`` messages."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["first_error", "format_loc", "reason_for"]


def format_loc(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """Walk field annotations along ``loc`` to the model that holds the last key."""
    current: Any = root
    for item in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(item))
            if field is None:
                return None
            current = field.annotation
            continue
        current = _unwrap(current)
        if current is None:
            return None
    current = _unwrap(current) if not (isinstance(current, type) and issubclass(current, BaseModel)) else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """From ``dict[str, X]``, ``list[X]`` or ``X | None`` get ``X``."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (dict, list) and args:
        return args[-1]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp if isinstance(tp, type) else None


def _num(value: Any) -> Any:
    """``0.0`` → ``0``: bounds read as written in the schema, not as Python floats."""
    return f"{value:g}" if isinstance(value, float) else value


def reason_for(err: ErrorDetails, root: type[BaseModel] | None = None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else "?"
        model = _model_at(root, err["loc"][:-1]) if root else None
        if model is not None:
            allowed = [name for name in model.model_fields if name not in ("name", "source")]
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return f"unknown key; {hint}allowed: {', '.join(allowed)}"
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "greater_than_equal":
        return f"must be ≥ {_num(ctx.get('ge'))}"
    if kind == "greater_than":
        return f"must be > {_num(ctx.get('gt'))}"
    if kind == "less_than_equal":
        return f"must be ≤ {_num(ctx.get('le'))}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected')} (got {err.get('input')!r})"
    if kind == "too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return f"does not match pattern {ctx.get('pattern')!r} (got {err.get('input')!r})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"][:1].lower() + err["msg"][1:])


def first_error(exc: ValidationError, root: type[BaseModel] | None = None) -> tuple[str, str]:
    """(key path, reason) of the first error, with a count of the others."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    reason = reason_for(err, root)
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return format_loc(err["loc"]), reason
