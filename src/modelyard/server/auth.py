"""Gateway API keys: ``Authorization: Bearer <key>`` checked against hashed keys.

Keys live in config as SHA-256 digests (`GatewayKey`), never in plain text.
When none are configured, auth is off and the tenant comes from the
``x-modelyard-tenant`` header or the body hints; when keys are configured,
every path under the protected prefixes needs one, and the key decides the
tenant (``key.tenant or key.name``), overriding anything the client claims.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.config.gateway import GatewayKey
from modelyard.server.context import request_info
from modelyard.server.errors import error_response

__all__ = ["GatewayAuth", "bearer_token"]


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


class GatewayAuth:
    """ASGI middleware: 401 in OpenAI's error shape unless a configured key is presented."""

    def __init__(
        self, app: ASGIApp, keys: Sequence[GatewayKey], *, protect: Sequence[str] = ("/v1/",)
    ) -> None:
        self.app = app
        self.keys = list(keys)
        self.protect = tuple(protect)

    def match(self, presented: str) -> GatewayKey | None:
        """The configured key the presented one hashes to, if any."""
        for key in self.keys:
            if key.matches(presented):
                return key
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith(self.protect):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        key = self.match(token) if token else None
        if key is None:
            message = (
                "missing gateway API key: send 'Authorization: Bearer <key>'"
                if token is None
                else "invalid gateway API key"
            )
            response = error_response(
                401,
                message,
                "invalid_request_error",
                code="invalid_api_key",
                headers={"www-authenticate": 'Bearer realm="modelyard"'},
            )
            await response(scope, receive, send)
            return
        info = request_info(scope)
        info.key_name = key.name
        info.tenant = key.tenant or key.name
        await self.app(scope, receive, send)
