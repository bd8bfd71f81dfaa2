"""One exception tree for modelyard.

    ModelyardError
    ├── ConfigError                 bad YAML / schema; message names file, key path, reason
    ├── ModelLoadError              local weights or runtime missing (with an install hint)
    ├── RequestError                the caller's request is invalid (HTTP 400)
    │   └── UnknownModelError       `model` names no model or router (HTTP 404)
    ├── RoutingError                no target could be chosen
    │   └── NoModelFitsError        family → model selection rejected every candidate
    ├── BudgetExceededError         a cost cap would be passed (HTTP 402)
    ├── RateLimitExceededError      a tenant or model limit is hit locally (HTTP 429)
    └── ProviderError               an upstream call failed; ``kind`` says how
        ├── AuthenticationError     401/403 from the upstream
        ├── RateLimitedError        429; ``retry_after`` seconds when the upstream said
        ├── ProviderTimeoutError    connect/read timeout or deadline passed
        ├── ConnectionFailedError   refused / reset / dropped mid-stream
        ├── BadRequestError         400/404/422 the upstream blames on the request
        ├── ContextTooLongError     the prompt does not fit the model's context
        ├── UpstreamServerError     5xx
        │   └── UpstreamMisconfiguredError  404/405: the upstream has no such endpoint or model
        ├── MalformedResponseError  the body is not the protocol we speak
        └── ContentFilteredError    the upstream refused on content policy

Layers above the engine add their own, in their packages: `modelyard.actions.errors`
(ToolError, ActionRunError, PlanError, ToolNotAllowedError < RequestError) and
`modelyard.pipeline.errors` (StageFailedError, StageOutputError).

Vendor errors are mapped to this tree at the provider edge, so resilience code
(fallbacks, retries, breakers) acts on ``ProviderError.kind`` alone.

Every error may carry ``retry_after``: the seconds after which the same request
can succeed, when whoever raised it knows (an upstream's Retry-After, a breaker's
cool-down, a rate-limit bucket's refill, a budget window's reset). The gateway
turns it into ``Retry-After`` / ``retry-after-ms`` headers in one place
(`modelyard.server.errors.describe`).
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigError",
    "ConnectionFailedError",
    "ContentFilteredError",
    "ContextTooLongError",
    "ErrorKind",
    "MalformedResponseError",
    "ModelLoadError",
    "ModelyardError",
    "NoModelFitsError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitExceededError",
    "RateLimitedError",
    "RequestError",
    "RoutingError",
    "UnknownModelError",
    "UpstreamMisconfiguredError",
    "UpstreamServerError",
]


class ErrorKind(str, Enum):
    """What went wrong upstream; fallback and retry policies are keyed by it."""

    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_REQUEST = "bad_request"
    CONTEXT_TOO_LONG = "context_too_long"
    SERVER = "server"
    MALFORMED = "malformed"
    CONTENT_FILTERED = "content_filtered"


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    #: HTTP status the gateway answers with; subclasses override.
    status_code: int = 500
    #: OpenAI error ``type`` string for the error body.
    error_type: str = "api_error"
    #: Seconds until the same request can succeed, when known; the gateway sends it as ``Retry-After``.
    retry_after: float | None = None


class ConfigError(ModelyardError):
    """A configuration file is invalid. ``str()`` is one line: file, key path, reason."""

    def __init__(self, reason: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


class ModelLoadError(ModelyardError):
    """Local model weights or their runtime are not available."""

    status_code = 503


class RequestError(ModelyardError):
    """The request itself is wrong; the caller must change it."""

    status_code = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class UnknownModelError(RequestError):
    status_code = 404

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        hint = f"; known: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"no model or router named {name!r}{hint}", param="model", code="model_not_found")
        self.name = name


class RoutingError(ModelyardError):
    """No target could be chosen for the request."""

    status_code = 503
    error_type = "routing_error"


class NoModelFitsError(RoutingError):
    """Every candidate of a family was rejected; ``rejected`` says why, per model."""

    def __init__(self, family: str, rejected: dict[str, str]) -> None:
        self.family = family
        self.rejected = dict(rejected)
        reasons = "; ".join(f"{m}: {why}" for m, why in rejected.items()) or "no models of this family"
        super().__init__(f"no model of family {family!r} fits the request ({reasons})")


class BudgetExceededError(ModelyardError):
    """A cost cap would be passed. ``retry_after``: seconds until the capping window resets (daily,
    monthly tenant budgets); None for a per-request cap, which no wait lifts."""

    status_code = 402
    error_type = "insufficient_quota"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitExceededError(ModelyardError):
    status_code = 429
    error_type = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(ModelyardError):
    """An upstream call failed. Messages never contain credentials."""

    kind: ErrorKind = ErrorKind.SERVER
    status_code = 502
    error_type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        provider: str | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.provider = provider
        self.upstream_status = upstream_status


class AuthenticationError(ProviderError):
    kind = ErrorKind.AUTH


class RateLimitedError(ProviderError):
    kind = ErrorKind.RATE_LIMITED
    status_code = 429
    error_type = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    kind = ErrorKind.TIMEOUT
    status_code = 504


class ConnectionFailedError(ProviderError):
    kind = ErrorKind.CONNECTION


class BadRequestError(ProviderError):
    kind = ErrorKind.BAD_REQUEST
    status_code = 400
    error_type = "invalid_request_error"


class ContextTooLongError(BadRequestError):
    kind = ErrorKind.CONTEXT_TOO_LONG


class UpstreamServerError(ProviderError):
    kind = ErrorKind.SERVER


class UpstreamMisconfiguredError(UpstreamServerError):
    """The upstream answered 404/405 (or ``model_not_found``) for its own endpoint.

    The caller named a modelyard model; a wrong ``base_url``, ``upstream_model``
    or upstream account is the gateway's configuration, so this is an upstream
    fault (kind ``server``: fallbacks apply, else HTTP 502), never the caller's 4xx.
    """


class MalformedResponseError(ProviderError):
    kind = ErrorKind.MALFORMED


class ContentFilteredError(ProviderError):
    kind = ErrorKind.CONTENT_FILTERED
    status_code = 400
    error_type = "content_filter"
