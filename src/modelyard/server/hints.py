"""Routing hints a client sends with a request, from headers and from the body.

Two ways in, because clients differ: headers (``x-modelyard-privacy: private``)
suit proxies and curl; a top-level ``modelyard`` object in the body is what the
OpenAI SDK sends with ``extra_body={"modelyard": {...}}``. Body values win over
headers. Both are taken off the request before it is validated, so they are
never forwarded to an upstream. Invalid values are the caller's error (400),
and the message names the header or body field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from modelyard.errors import RequestError
from modelyard.server.errors import invalid_body
from modelyard.types import RoutingHints

__all__ = ["BODY_KEY", "HEADER_HINTS", "HEADER_PREFIX", "routing_hints"]

#: the body key the SDK's ``extra_body={"modelyard": {...}}`` produces
BODY_KEY = "modelyard"
HEADER_PREFIX = b"x-modelyard-"

#: header → `RoutingHints` field
HEADER_HINTS: dict[bytes, str] = {
    b"x-modelyard-latency-budget-ms": "latency_budget_ms",
    b"x-modelyard-privacy": "privacy",
    b"x-modelyard-consent": "consent_third_party",
    b"x-modelyard-max-cost-usd": "max_cost_usd",
    b"x-modelyard-wants-action": "wants_action",
    b"x-modelyard-needs-pixel-mask": "needs_pixel_mask",
    b"x-modelyard-generative-image": "is_generative_image",
    b"x-modelyard-precision": "precision",
    b"x-modelyard-volume-per-day": "volume_per_day",
    b"x-modelyard-tenant": "tenant",
    b"x-modelyard-user": "user_id",
}
_FIELD_HEADER = {f: h.decode() for h, f in HEADER_HINTS.items()}


def routing_hints(
    headers: Iterable[tuple[bytes, bytes]], body: dict[str, Any], *, tenant: str | None
) -> RoutingHints:
    """Hints for one request; pops the hint keys from ``body``.

    ``tenant`` is the authenticated tenant: when set it overrides whatever the
    client claimed, so a key cannot spend another tenant's budget.
    """
    from_headers = {
        HEADER_HINTS[name]: value.decode("latin-1")
        for name, value in headers
        if name.startswith(HEADER_PREFIX) and name in HEADER_HINTS
    }
    body_hints = body.pop(BODY_KEY, None)
    legacy = body.pop("hints", None)  # the library field name, accepted for symmetry
    if not from_headers and body_hints is None and legacy is None:
        return RoutingHints(tenant=tenant) if tenant is not None else RoutingHints()
    hints = _validate_headers(from_headers) if from_headers else RoutingHints()
    for key, raw in (("hints", legacy), (BODY_KEY, body_hints)):
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise RequestError(f"{key}: must be an object of routing hints", param=key, code="invalid_value")
        try:
            update = RoutingHints.model_validate(raw)
        except ValidationError as exc:
            raise invalid_body(exc, prefix=[key]) from None
        hints = hints.model_copy(update=update.model_dump(exclude_unset=True))
    if tenant is not None:
        hints.tenant = tenant
    return hints


def _validate_headers(values: dict[str, str]) -> RoutingHints:
    try:
        return RoutingHints.model_validate(values)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        header = _FIELD_HEADER.get(field, field)
        raise RequestError(
            f"header {header}: {err['msg']} (got {values.get(field)!r})", param=header, code="invalid_header"
        ) from None
