"""The OpenAI Batch API file format: input lines in, output and error lines out.

Input (one JSON object a line, the shape OpenAI's Batch API takes)::

    {"custom_id": "two-sum/python/tutorial", "method": "POST",
     "url": "/v1/chat/completions", "body": {"model": "content", "messages": [...]}}

Output (OpenAI's ``BatchRequestOutput``: one line per item, matched to the
input by ``custom_id``, not by position)::

    {"id": "batch_req_…", "custom_id": "…",
     "response": {"status_code": 200, "request_id": "req-…", "body": {…}},
     "error": null}

A request that reached a model and failed is written, as OpenAI does, with its
HTTP status and OpenAI error body in ``response`` (to the error file). An item
that never ran (cancelled, budget used up) has ``response: null`` and
``error: {"code", "message"}``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from modelyard.errors import RequestError

__all__ = [
    "MAX_CUSTOM_ID",
    "BatchInputError",
    "BatchItem",
    "failed_line",
    "file_digest",
    "output_line",
    "read_items",
    "skipped_line",
]

#: OpenAI caps custom_id at 64 characters; modelyard allows longer ids but no more than this.
MAX_CUSTOM_ID = 512
_MAX_REPORTED = 20


class BatchInputError(RequestError):
    """The input file is not a valid batch file; ``problems`` names each bad line (1-based)."""

    def __init__(self, path: str, problems: list[str], total: int) -> None:
        more = f" (and {total - len(problems)} more)" if total > len(problems) else ""
        super().__init__(f"{path}: {total} invalid line(s){more}:\n  " + "\n  ".join(problems), code="invalid_batch")
        self.problems = problems


@dataclass(slots=True)
class BatchItem:
    """One input line: ``line`` is 1-based; ``body`` is the request body as sent to ``url``."""

    custom_id: str
    line: int
    url: str
    body: dict[str, Any]


def file_digest(path: Path) -> str:
    """sha256 of the file's bytes (hex): a checkpoint belongs to exactly one input."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_items(
    data: bytes, *, source: str, urls: frozenset[str] | set[str], endpoint: str | None = None
) -> list[BatchItem]:
    """Parse and validate a whole batch file, or raise `BatchInputError` listing the bad lines.

    ``urls``: the endpoints the runner can serve; ``endpoint``: when set (a gateway
    batch), every line must use it, as OpenAI requires. Blank lines are skipped.
    """
    items: list[BatchItem] = []
    problems: list[str] = []
    bad = 0
    seen: dict[str, int] = {}

    def problem(text: str) -> None:
        nonlocal bad
        bad += 1
        if len(problems) < _MAX_REPORTED:
            problems.append(text)

    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem(f"line {number}: not valid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            problem(f"line {number}: must be a JSON object, got {type(obj).__name__}")
            continue
        unknown = set(obj) - {"custom_id", "method", "url", "body"}
        cid, method, url, body = obj.get("custom_id"), obj.get("method"), obj.get("url"), obj.get("body")
        if unknown:
            problem(f"line {number}: unknown field(s) {', '.join(sorted(unknown))}")
        elif not isinstance(cid, str) or not cid:
            problem(f"line {number}: custom_id must be a non-empty string")
        elif len(cid) > MAX_CUSTOM_ID:
            problem(f"line {number}: custom_id is longer than {MAX_CUSTOM_ID} characters")
        elif cid in seen:
            problem(f"line {number}: custom_id {cid!r} repeats line {seen[cid]}")
        elif method != "POST":
            problem(f"line {number}: method must be \"POST\", got {method!r}")
        elif not isinstance(url, str) or url not in urls:
            problem(f"line {number}: url {url!r} is not served; expected one of {', '.join(sorted(urls))}")
        elif endpoint is not None and url != endpoint:
            problem(f"line {number}: url {url!r} differs from the batch's endpoint {endpoint!r}")
        elif not isinstance(body, dict):
            problem(f"line {number}: body must be a JSON object")
        elif body.get("stream"):
            problem(f"line {number}: body.stream is not supported in a batch")
        else:
            seen[cid] = number
            items.append(BatchItem(cid, number, url, body))
            continue
        if isinstance(cid, str) and cid and cid not in seen:
            seen[cid] = number
    if bad:
        raise BatchInputError(source, problems, bad)
    if not items:
        raise BatchInputError(source, ["the file holds no requests"], 1)
    return items


def _line_id() -> str:
    """``batch_req_`` and 24 hex digits, like OpenAI's per-line ids."""
    return f"batch_req_{os.urandom(12).hex()}"


def output_line(custom_id: str, status_code: int, request_id: str, body: dict[str, Any]) -> bytes:
    """A ``BatchRequestOutput`` line for a request that got an HTTP answer (success or error body)."""
    line = {
        "id": _line_id(),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }
    return orjson.dumps(line)


def failed_line(custom_id: str, code: str, message: str) -> bytes:
    """A ``BatchRequestOutput`` line for an item that got no HTTP answer (``response: null``)."""
    line = {
        "id": _line_id(),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
    return orjson.dumps(line)


skipped_line = failed_line
