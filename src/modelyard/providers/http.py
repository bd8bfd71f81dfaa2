"""The HTTP stack every remote provider shares, and the one place that knows httpx.

`HTTPProvider` sends JSON over the engine's pooled ``httpx.AsyncClient``
(`ProviderContext.http`) and returns decoded JSON or server-sent events.

Timeouts: the ``timeout`` seconds given to a call bound the whole call —
connect, headers and, for streams, every event up to the last — on the
monotonic clock. Cancellation (the engine's own ``asyncio.timeout``, a client
disconnecting) leaves ``client.stream(...)``'s context, which closes the
upstream connection instead of returning a half-read one to the pool.

Errors: every failure becomes a `modelyard.errors.ProviderError`. Messages give
the upstream status and a short sanitised excerpt of the upstream's own message;
request headers are never included and the API key is redacted even if an
upstream echoes it.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import logging
import re
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import httpx

from modelyard.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamServerError,
)
from modelyard.providers.base import Provider
from modelyard.providers.sse import SSEDecoder, SSEEvent

__all__ = ["HTTPProvider", "SSEEvent", "error_class", "excerpt", "retry_after", "upstream_message"]

log = logging.getLogger("modelyard.providers")

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class HTTPProvider(Provider):
    """A provider that speaks JSON over HTTP. Subclasses translate; this class transports.

    Subclasses set ``default_base_url`` and implement `auth_headers`; they may
    override `classify_error` for vendor-specific error bodies.
    """

    default_base_url: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_url = (self.spec.base_url or self.default_base_url).rstrip("/")
        self._static_headers: dict[str, str] = {
            "content-type": "application/json",
            "user-agent": "modelyard",
            **{k.lower(): v for k, v in self.spec.headers.items()},
        }

    # -- hooks -----------------------------------------------------------------

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers carrying the credential, built per call from `api_key()`."""

    def classify_error(self, status: int, payload: Any, message: str) -> type[ProviderError] | None:
        """A vendor-specific error class for this response, or None for the generic mapping."""
        return None

    # -- errors ----------------------------------------------------------------

    def error(
        self,
        cls: type[ProviderError],
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> ProviderError:
        """Build an error naming this model; the message is scrubbed of the key."""
        text = self._scrub(message)
        kw: dict[str, Any] = {"model": self.spec.name, "provider": self.kind, "upstream_status": status}
        if retry_after_s is not None:
            kw["retry_after"] = retry_after_s
        return cls(text, **kw)

    def status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        """Map an upstream HTTP error response to the error tree."""
        try:
            payload: Any = json.loads(body) if body else None
        except ValueError:
            payload = None
        message = upstream_message(payload, body)
        cls = self.classify_error(status, payload, message) or error_class(status, payload, message)
        wait = retry_after(headers, payload) if status == 429 else None
        text = f"{self.kind} upstream answered HTTP {status} for {self.spec.name!r}"
        if message:
            text += f": {excerpt(message)}"
        if wait is not None:
            text += f" (retry after {wait:g}s)"
        return self.error(cls, text, status=status, retry_after_s=wait)

    def _scrub(self, text: str) -> str:
        try:
            key = self.api_key()
        except ProviderError:
            key = None
        if key and key in text:
            text = text.replace(key, "[redacted]")
        return text

    def _transport_error(self, exc: Exception, where: str) -> ProviderError:
        name = type(exc).__name__
        if isinstance(exc, httpx.DecodingError):
            return self.malformed(f"undecodable response body {where} ({name})")
        if isinstance(exc, httpx.TimeoutException):
            msg = f"{self.kind} upstream for {self.spec.name!r} timed out {where} ({name})"
            return self.error(ProviderTimeoutError, msg)
        return self.error(
            ConnectionFailedError, f"{self.kind} upstream for {self.spec.name!r} failed {where}: {name}"
        )

    def _timeout_error(self, timeout: float | None, where: str) -> ProviderError:
        limit = f" within {timeout:.3f}s" if timeout is not None else ""
        msg = f"{self.kind} upstream for {self.spec.name!r} did not answer{limit} {where}"
        return self.error(ProviderTimeoutError, msg.rstrip())

    def decode(self, body: bytes | str) -> Any:
        """Parse a JSON body; anything else is a malformed response."""
        try:
            return json.loads(body)
        except ValueError:
            raise self.error(
                MalformedResponseError,
                f"{self.kind} upstream for {self.spec.name!r} sent invalid JSON: {excerpt(body, 80)!r}",
            ) from None

    def malformed(self, what: str) -> ProviderError:
        return self.error(MalformedResponseError, f"{self.kind} upstream for {self.spec.name!r}: {what}")

    # -- transport -------------------------------------------------------------

    def _request(self, path: str, body: Any, timeout: float | None) -> httpx.Request:
        headers = {**self._static_headers, **self.auth_headers()}
        return self.context.http.build_request(
            "POST",
            self.base_url + path,
            content=_JSON.encode(body).encode(),
            headers=headers,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    async def post_json(self, path: str, body: Any, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """POST ``body`` to ``base_url + path``; the decoded JSON answer or a `ProviderError`."""
        request = self._request(path, body, timeout)
        try:
            async with asyncio.timeout(timeout):
                response = await self.context.http.send(request, stream=True)
                try:
                    raw = await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise self._timeout_error(timeout, "") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "during the call") from None
        if response.status_code >= 300:
            err = self.status_error(response.status_code, response.headers, raw)
            log.debug("%s %s → %s", self.spec.name, path, err.kind.value)
            raise err
        return self.decode(raw)

    async def stream_events(
        self,
        path: str,
        body: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncIterator[SSEEvent]:
        """POST ``body`` and yield the server-sent events of the answer.

        Ends when the upstream closes the stream cleanly; a drop in the middle
        raises `ConnectionFailedError`, a stall past the deadline
        `ProviderTimeoutError`.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        request = self._request(path, body, timeout)
        decoder = SSEDecoder()
        events = 0
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout_at(deadline):
                    response = await self.context.http.send(request, stream=True)
                    stack.push_async_callback(response.aclose)
                    if response.status_code >= 300:
                        raw = await response.aread()
                        raise self.status_error(response.status_code, response.headers, raw)
                    ctype = response.headers.get("content-type", "")
                    if "text/event-stream" not in ctype:
                        raise self._not_a_stream(await response.aread(), ctype)
                lines = response.aiter_lines()
                while True:
                    async with asyncio.timeout_at(deadline):
                        line = await anext(lines, None)
                    if line is None:
                        break
                    event = decoder.feed(line)
                    if event is not None:
                        events += 1
                        yield event
            except TimeoutError:
                raise self._timeout_error(timeout, f"(stream, after {events} events)") from None
            except httpx.HTTPError as exc:
                where = f"mid-stream after {events} events" if events else "before the stream started"
                raise self._transport_error(exc, where) from None
            tail = decoder.flush()
            if tail is not None:
                yield tail

    def _not_a_stream(self, raw: bytes, ctype: str) -> ProviderError:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "error" in payload:
            return self.status_error(400, {}, raw)
        return self.malformed(f"expected an event stream, got {ctype or 'no content type'!r}")


# -- status → error mapping (pure functions, no I/O) --------------------------

_CONTEXT_TOO_LONG = re.compile(
    r"context[_ ]length[_ ]exceeded|maximum context length|context window|context size"
    r"|prompt is too long|exceeds the maximum number of tokens|too many (input )?tokens",
    re.IGNORECASE,
)
_SECRETISH = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+|(?:api[_-]?key|key)=[^&\s\"']+)",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def excerpt(text: str | bytes, limit: int = 200) -> str:
    """A one-line, length-capped upstream message with anything key-shaped redacted."""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    text = _SECRETISH.sub("[redacted]", _CONTROL.sub(" ", text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def upstream_message(payload: Any, raw: bytes) -> str:
    """The human message inside an OpenAI, Anthropic or Gemini error body, else the raw text."""
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if isinstance(msg, str):
                return msg
        elif isinstance(err, str):
            return err
        detail = payload.get("detail") or payload.get("message")
        if isinstance(detail, str):
            return detail
    return raw[:400].decode("utf-8", "replace")


def _error_code(payload: Any) -> str:
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return ""
    return " ".join(str(err.get(k) or "") for k in ("code", "type", "status"))


def error_class(status: int, payload: Any, message: str) -> type[ProviderError]:
    """The generic HTTP status → error mapping shared by every protocol."""
    code = _error_code(payload)
    if "content_filter" in code:
        return ContentFilteredError
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimitedError
    if status in (408, 504):
        return ProviderTimeoutError
    if status >= 500:
        return UpstreamServerError
    if 400 <= status < 500:
        if _CONTEXT_TOO_LONG.search(message) or "context_length" in code:
            return ContextTooLongError
        return BadRequestError
    return MalformedResponseError


def retry_after(headers: Mapping[str, str], payload: Any = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP-date) or a
    Google ``RetryInfo`` detail in the body; None when the upstream did not say."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=datetime.UTC)
                return max(0.0, when.timestamp() - time.time())
    return _google_retry_delay(payload)


def _google_retry_delay(payload: Any) -> float | None:
    err = payload.get("error") if isinstance(payload, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    for item in details if isinstance(details, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None
