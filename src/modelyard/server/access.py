"""The outermost gateway middleware: a request id on every response, one access-log line per request.

The line names the request id, method, path, status, latency, and — when a
model answered — model, route, tenant and cost. It never contains headers,
bodies or query strings, so keys and prompts cannot reach the log.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.server.context import SCOPE_KEY, RequestInfo
from modelyard.server.shapes import format_cost

__all__ = ["RequestContext", "access_log"]

access_log = logging.getLogger("modelyard.access")


class RequestContext:
    """Creates the request's `RequestInfo`, adds ``x-request-id``, writes the access line."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger = access_log) -> None:
        self.app = app
        self.log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = RequestInfo()
        scope[SCOPE_KEY] = info
        request_id = info.request_id.encode()
        logged = False

        async def send_with_id(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start":
                info.status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                logged = True  # written before the last byte, so a client never outruns its log line
                self._write(scope, info)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if info.status is None:
                info.status = 500
            raise
        finally:
            if not logged:
                self._write(scope, info)

    def _write(self, scope: Scope, info: RequestInfo) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        fields = ""
        if info.model is not None:
            fields = f" model={info.model} route={info.route}"
            if info.cost_usd is not None:
                fields += f" cost_usd={format_cost(info.cost_usd)}"
            if info.simulated:
                fields += " simulated=true"
        if info.tenant is not None:
            tenant = (
                info.tenant if info.tenant.isprintable() and " " not in info.tenant else repr(info.tenant)
            )
            fields += f" tenant={tenant}"
        if info.error_type is not None:
            fields += f" error={info.error_type}"
        self.log.info(
            "%s %s %s %s %.1fms%s",
            info.request_id,
            scope["method"],
            scope["path"],
            info.status,
            info.elapsed_ms(),
            fields,
        )
