"""HTTP endpoints as tools: method, URL, JSON schema, and the env var holding any secret.

``url`` may hold ``{name}`` placeholders filled from the args (those args are
then not sent again); the other args go in the query string for GET/DELETE and
as the JSON body otherwise. Side-effecting calls carry ``Idempotency-Key``.
The secret is read from the environment at call time, sent in
``secret_header`` (``Authorization: Bearer …`` by default) and never appears in
a repr, a log line or an error message.

``lookup_url`` (optional, ``{idempotency_key}`` in it): a GET that answers 200
with the earlier call's result when a call with that key took effect, 404 when
none did — how the executor settles an in-doubt call without sending it twice.
"""

from __future__ import annotations

import email.utils
import os
import string
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from modelyard.actions.errors import ToolError
from modelyard.actions.tools.base import Lookup

__all__ = ["HttpTool", "parse_retry_after"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpTool:
    """One HTTP endpoint. See the module docstring for how args map to the request."""

    def __init__(
        self,
        name: str,
        *,
        method: str,
        url: str,
        input_schema: dict[str, Any] | None = None,
        side_effect: bool | None = None,
        secret_env: str | None = None,
        secret_header: str = "Authorization",
        secret_prefix: str = "Bearer ",
        headers: Mapping[str, str] | None = None,
        lookup_url: str | None = None,
        description: str = "",
        env: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.method = method.upper()
        self.url = url
        self.input_schema = input_schema
        self.side_effect = side_effect if side_effect is not None else self.method not in ("GET", "HEAD", "OPTIONS")
        self.secret_env = secret_env
        self.secret_header = secret_header
        self.secret_prefix = secret_prefix
        self.headers = dict(headers or {})
        self.lookup_url = lookup_url
        self.description = description or f"{self.method} {url}"
        self._env = env if env is not None else os.environ
        self._client = client
        self._own_client = client is None
        self._placeholders = {f[1] for f in string.Formatter().parse(url) if f[1]}

    def __repr__(self) -> str:  # the secret's variable name only, never its value
        return f"HttpTool({self.name!r}, {self.method} {self.url}, secret_env={self.secret_env!r})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=None, follow_redirects=False)
        return self._client

    def _secret(self) -> str | None:
        if self.secret_env is None:
            return None
        value = self._env.get(self.secret_env)
        if not value:
            raise ToolError(f"{self.name}: environment variable {self.secret_env} is not set", kind="auth")
        return value

    def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        headers = {"accept": "application/json", **self.headers}
        secret = self._secret()
        if secret is not None:
            headers[self.secret_header] = f"{self.secret_prefix}{secret}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _scrub(self, text: str) -> str:
        secret = self._env.get(self.secret_env) if self.secret_env else None
        return text.replace(secret, "***") if secret else text

    async def call(self, args: dict[str, Any], *, idempotency_key: str | None) -> Any:
        missing = sorted(self._placeholders - set(args))
        if missing:
            raise ToolError(f"{self.name}: url needs argument(s) {', '.join(missing)}", kind="bad_request")
        url = self.url.format(**{k: quote(str(args[k]), safe="") for k in self._placeholders})
        rest = {k: v for k, v in args.items() if k not in self._placeholders}
        kwargs: dict[str, Any] = {"headers": self._headers(idempotency_key if self.side_effect else None)}
        if self.method in _BODY_METHODS:
            kwargs["json"] = rest
        elif rest:
            kwargs["params"] = {k: v if isinstance(v, str) else str(v) for k, v in rest.items()}
        try:
            response = await self._http().request(self.method, url, **kwargs)
        except httpx.ConnectError as exc:  # nothing was sent
            raise ToolError(f"{self.name}: cannot connect ({type(exc).__name__})", kind="connection") from None
        except httpx.TimeoutException as exc:
            raise ToolError(f"{self.name}: {type(exc).__name__}", kind="timeout", in_doubt=True) from None
        except httpx.TransportError as exc:  # sent, then the connection broke: the effect may have happened
            raise ToolError(
                f"{self.name}: connection lost ({type(exc).__name__})", kind="connection", in_doubt=True
            ) from None
        return self._result(response)

    def _result(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            if not response.content:
                return None
            if "json" in response.headers.get("content-type", ""):
                try:
                    return response.json()
                except ValueError:
                    raise ToolError(f"{self.name}: answered invalid JSON", kind="server") from None
            return response.text
        snippet = self._scrub(response.text[:200].strip())
        message = f"{self.name}: HTTP {status}" + (f": {snippet}" if snippet else "")
        if status == 429:
            raise ToolError(
                message, kind="rate_limited", retry_after=parse_retry_after(response.headers.get("retry-after"))
            )
        if status in (401, 403):
            raise ToolError(message, kind="auth")
        if status == 408:
            raise ToolError(message, kind="timeout")
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise ToolError(message, kind="server", retry_after=retry_after)
        raise ToolError(message, kind="bad_request")

    async def lookup(self, idempotency_key: str) -> Lookup:
        if self.lookup_url is None:
            return None
        url = self.lookup_url.format(idempotency_key=quote(idempotency_key, safe=""))
        try:
            response = await self._http().get(url, headers=self._headers(None), timeout=10.0)
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return (False, None)
        if response.status_code == 200:
            return (True, response.json() if response.content else None)
        return None

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None
