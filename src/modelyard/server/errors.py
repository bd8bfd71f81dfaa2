"""Every failure leaves the gateway in OpenAI's error shape, with the right status.

``{"error": {"message", "type", "param", "code"}}`` is what the OpenAI SDKs
parse into their exception classes, so a client sees ``BadRequestError`` for
400, ``AuthenticationError`` for 401, ``NotFoundError`` for 404,
``RateLimitError`` for 429 and ``InternalServerError`` for 5xx. The status
comes from the `modelyard.errors` tree (``status_code``, ``error_type``);
nothing here decides policy.

Retry-After comes from the error, here and nowhere else: any error that knows
when the same request can succeed (``ModelyardError.retry_after``: an open
breaker's cool-down, a rate limit's refill, a budget window's reset, an
upstream's own Retry-After, a draining gateway) gets ``Retry-After`` in whole
seconds (rounded up, at least 1) and ``retry-after-ms`` (as OpenAI sends it;
the OpenAI SDKs read it first and wait exactly that long before retrying).

Messages pass through a `Redactor` that knows the values of the upstream API
keys the configuration names, so even a provider bug cannot echo one back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from modelyard.config.errors_format import format_loc, reason_for
from modelyard.errors import (
    ModelyardError,
    ProviderError,
    RateLimitedError,
    RateLimitExceededError,
    RequestError,
)
from modelyard.secrets import SecretScrubber
from modelyard.server.jsonio import dumps

__all__ = [
    "GatewayDrainingError",
    "PayloadTooLargeError",
    "Redactor",
    "error_body",
    "error_response",
    "exception_response",
    "invalid_body",
    "retry_headers",
]


class PayloadTooLargeError(RequestError):
    """The body is larger than ``gateway.max_request_bytes``."""

    status_code = 413


class GatewayDrainingError(ModelyardError):
    """The gateway is shutting down: requests in flight finish, new ones get HTTP 503 and ``Retry-After``."""

    status_code = 503
    error_type = "service_unavailable"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "the gateway is shutting down and takes no new requests; retry after the Retry-After delay"
        )
        self.retry_after = retry_after


#: The gateway's name for the shared scrubber (it redacts client-facing text).
Redactor = SecretScrubber


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    type_: str,
    *,
    param: str | None = None,
    code: str | int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        dumps(error_body(message, type_, param=param, code=code)),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def retry_headers(seconds: float | None) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up, ≥ 1) and ``retry-after-ms`` (≥ 1) for a known wait."""
    if seconds is None or not math.isfinite(seconds):
        return {}
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000.0))),
    }


def describe(exc: ModelyardError, redact: Redactor) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, OpenAI error body, extra headers) for a modelyard error; Retry-After when it knows the wait."""
    param: str | None = None
    code: str | None = None
    if isinstance(exc, RequestError):
        param, code = exc.param, exc.code
    elif isinstance(exc, ProviderError):
        code = exc.kind.value
    if isinstance(exc, RateLimitedError | RateLimitExceededError):
        code = code or "rate_limited"
    body = error_body(redact(str(exc)), exc.error_type, param=param, code=code)
    return exc.status_code, body, retry_headers(exc.retry_after)


def exception_response(exc: ModelyardError, redact: Redactor) -> Response:
    status, body, headers = describe(exc, redact)
    return Response(dumps(body), status_code=status, headers=headers, media_type="application/json")


def invalid_body(exc: ValidationError, *, prefix: Sequence[str | int] = ()) -> RequestError:
    """A pydantic error on the request body → 400 naming the field path in ``param``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [*prefix, *_clean_loc(first["loc"])]
    param = format_loc(loc) or None
    reason = reason_for(first).replace("required key", "required field")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"{param}: {reason}{more}" if param else f"{reason}{more}"
    return RequestError(message, param=param, code="invalid_value")


def _clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    """Drop pydantic's union-branch tags (``str``, ``list[...]``) from a location."""
    return [part for part in loc if isinstance(part, int) or not _is_branch_tag(part)]


def _is_branch_tag(part: str) -> bool:
    return part in ("str", "int", "float", "bool", "dict") or "[" in part or part.startswith("function-")
