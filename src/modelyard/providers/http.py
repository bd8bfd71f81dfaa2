"""The HTTP stack every remote provider shares, and the one place that knows aiohttp.

`HTTPProvider` sends JSON over the engine's pooled ``aiohttp.ClientSession``
(`ProviderContext.http`, opened by `new_session`) and returns decoded JSON or
server-sent events.

Why aiohttp and not httpx: on the gateway's hot path a keep-alive POST costs
~90 µs of CPU through aiohttp and ~700 µs through httpx (measured on the
loopback upstream, 2-core machine); the gateway's budget is under a
millisecond for everything it adds.

Timeouts: the ``timeout`` seconds given to a call bound the whole call —
connect, headers and, for streams, every event up to the last — on the
monotonic clock. Cancellation (the engine's own ``asyncio.timeout``, a client
disconnecting) closes the response before its body was read to the end, which
closes the upstream connection instead of returning a half-read one to the pool.

Proxies: ``HTTP(S)_PROXY`` / ``NO_PROXY`` are read once per provider (its
base URL is fixed), not on every request.

Errors: every failure becomes a `modelyard.errors.ProviderError`, classified by
meaning in `modelyard.providers.upstream_errors` (one table for every server).
Messages give the upstream status and a short sanitised excerpt of the
upstream's own message; request headers are never included and the API key is
redacted even if an upstream echoes it.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import logging
import re
import time
import urllib.request
from abc import abstractmethod
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.http_exceptions import ContentEncodingError

from modelyard.errors import (
    ConnectionFailedError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    UpstreamMisconfiguredError,
)
from modelyard.providers.base import Provider
from modelyard.providers.sse import LineSplitter, SSEDecoder, SSEEvent
from modelyard.providers.upstream_errors import error_class, upstream_message

__all__ = [
    "HTTPProvider",
    "SSEEvent",
    "error_class",
    "excerpt",
    "new_session",
    "retry_after",
    "upstream_message",
]

log = logging.getLogger("modelyard.providers")

#: Without a per-call timeout: connect within 10 s, then at most 60 s between reads.
_DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=60.0)
#: How long and how much `_drain` reads after a stream's logical end.
_DRAIN_SECONDS = 0.25
_DRAIN_BYTES = 64 * 1024


def new_session() -> aiohttp.ClientSession:
    """The pooled keep-alive client a `ProviderContext` opens on first use (in a running loop).

    Environment proxies are resolved per provider (`HTTPProvider`), so the
    session does not re-read the environment (and ``~/.netrc``) on every request.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512, limit_per_host=0),
        timeout=_DEFAULT_TIMEOUT,
        trust_env=False,
        raise_for_status=False,
    )


def _encode(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # e.g. integers past 64 bits in a caller's extra parameters
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (as httpx's ``trust_env`` did), or None."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy or None


class HTTPProvider(Provider):
    """A provider that speaks JSON over HTTP. Subclasses translate; this class transports.

    Subclasses set ``default_base_url`` and implement `auth_headers`. Error
    bodies are classified in one place (`modelyard.providers.upstream_errors`),
    never per subclass.
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
        self._proxy = _env_proxy(self.base_url)

    # -- hooks -----------------------------------------------------------------

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers carrying the credential, built per call from `api_key()`."""

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
            payload: Any = orjson.loads(body) if body else None
        except ValueError:
            payload = None
        message = upstream_message(payload, body)
        cls = error_class(status, payload, message)
        wait = retry_after(headers, payload) if status == 429 else None
        text = f"{self.kind} upstream answered HTTP {status} for {self.spec.name!r}"
        if message:
            text += f": {excerpt(message)}"
        if wait is not None:
            text += f" (retry after {wait:g}s)"
        if cls is UpstreamMisconfiguredError:
            text += f" (no such endpoint or model upstream: check base_url {self.base_url!r} and upstream_model)"
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
        if _undecodable(exc):
            return self.malformed(f"undecodable response body {where} ({name})")
        if isinstance(exc, TimeoutError):  # aiohttp's own connect / read timeouts
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
            return orjson.loads(body)
        except ValueError:
            raise self.error(
                MalformedResponseError,
                f"{self.kind} upstream for {self.spec.name!r} sent invalid JSON: {excerpt(body, 80)!r}",
            ) from None

    def malformed(self, what: str) -> ProviderError:
        return self.error(MalformedResponseError, f"{self.kind} upstream for {self.spec.name!r}: {what}")

    # -- transport -------------------------------------------------------------

    async def _send(self, path: str, body: Any) -> aiohttp.ClientResponse:
        """POST and return once the status line and headers arrived; the body is left to read."""
        return await self.context.http.request(
            "POST",
            self.base_url + path,
            data=_encode(body),
            headers={**self._static_headers, **self.auth_headers()},
            allow_redirects=False,
            proxy=self._proxy,
        )

    async def post_json(self, path: str, body: Any, *, timeout: float | None = None) -> Any:
        """POST ``body`` to ``base_url + path``; the decoded JSON answer or a `ProviderError`."""
        try:
            async with asyncio.timeout(timeout):
                response = await self._send(path, body)
                try:
                    raw = await response.read()
                finally:
                    response.close()  # a no-op once the body was read; else the connection goes
        except aiohttp.ClientError as exc:
            raise self._transport_error(exc, "during the call") from None
        except TimeoutError:
            raise self._timeout_error(timeout, "") from None
        if response.status >= 300:
            err = self.status_error(response.status, response.headers, raw)
            log.debug("%s %s → %s", self.spec.name, path, err.kind.value)
            raise err
        return self.decode(raw)

    async def stream_events(
        self,
        path: str,
        body: Any,
        *,
        timeout: float | None = None,
        last: Callable[[SSEEvent], bool] | None = None,
    ) -> AsyncGenerator[SSEEvent, None]:
        """POST ``body`` and yield the server-sent events of the answer.

        Ends when the upstream closes the stream cleanly; a drop in the middle
        raises `ConnectionFailedError`, a stall past the deadline
        `ProviderTimeoutError`. ``last`` names the protocol's end-of-answer
        event: a caller that stops (closes this generator) right after it lets
        the body finish so the connection is reused; stopping anywhere else
        (a client gone mid-answer) closes the connection at once.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        decoder = SSEDecoder()
        lines = LineSplitter()
        events = 0
        at_end = False  # the last event yielded was the end of the answer
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._send(path, body)
                if response.status >= 300:
                    raw = await response.read()
                    raise self.status_error(response.status, response.headers, raw)
                ctype = response.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    raise self._not_a_stream(await response.read(), ctype)
            content = response.content
            chunks = content.iter_any()
            while True:
                # What has already arrived is taken without arming a timer (one per await costs more
                # than the read); only a read that would wait runs under the deadline.
                chunk = content.read_nowait() or None
                if chunk is not None and deadline is not None and loop.time() >= deadline:
                    raise TimeoutError  # an upstream that never pauses still ends at the deadline
                if chunk is None:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                for line in lines.feed(chunk) if chunk is not None else lines.flush():
                    event = decoder.feed(line)
                    if event is not None:
                        events += 1
                        at_end = last is not None and last(event)
                        yield event
                if chunk is None:  # the upstream ended the body cleanly
                    break
        except aiohttp.ClientError as exc:
            where = f"mid-stream after {events} events" if events else "before the stream started"
            raise self._transport_error(exc, where) from None
        except TimeoutError:
            raise self._timeout_error(timeout, f"(stream, after {events} events)") from None
        except GeneratorExit:
            if at_end and response is not None:
                await _drain(response)
            raise
        finally:
            if response is not None:
                response.close()  # a no-op after a clean end; otherwise drops the connection
        tail = decoder.flush()
        if tail is not None:
            yield tail

    def _not_a_stream(self, raw: bytes, ctype: str) -> ProviderError:
        try:
            payload = orjson.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "error" in payload:
            return self.status_error(400, {}, raw)
        return self.malformed(f"expected an event stream, got {ctype or 'no content type'!r}")


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read the little left after a stream's logical end, so its connection goes back to the pool.

    Upstreams send the body's end (the last empty chunk) just after their
    end-of-answer event; closing before it arrives would cost a new connection
    (and TLS handshake) per streamed request. Bounded in time and bytes; an
    upstream that keeps talking has its connection closed instead.
    """
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            left = _DRAIN_BYTES
            while left > 0 and not response.content.at_eof():
                chunk = await response.content.readany()
                left = left - len(chunk) if chunk else 0
    except (TimeoutError, aiohttp.ClientError):
        pass
    response.close()


def _undecodable(exc: BaseException) -> bool:
    """A body aiohttp could not decompress (a payload error caused by ``ContentEncodingError``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContentEncodingError):
            return True
        seen = seen.__cause__
    return False


# -- status → error mapping (pure functions, no I/O) --------------------------

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
