"""The gateway's ASGI application: routes, middleware, error handlers, lifespan.

`create_app` is the one place that assembles the gateway. Middleware order is
spelled out in `build_middleware`; other parts of modelyard (telemetry's
``/metrics`` and ``/dashboard``, tenant limits, budgets) plug in through the
``routes`` and ``middleware`` arguments instead of editing this file.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from modelyard.engine import Engine
from modelyard.errors import ModelyardError
from modelyard.server import gctune
from modelyard.server.access import RequestContext
from modelyard.server.auth import GatewayAuth
from modelyard.server.context import request_info
from modelyard.server.drain import Drain, DrainGuard
from modelyard.server.errors import Redactor, error_response, exception_response
from modelyard.server.openai_api import OpenAIAPI

__all__ = ["CONFIG_ENV", "app_from_env", "build_middleware", "create_app", "warm_up"]

log = logging.getLogger("modelyard.server")

#: where `app_from_env` (each worker of a multi-worker server) finds its config
CONFIG_ENV = "MODELYARD_CONFIG"


def build_middleware(
    engine: Engine, extra: Sequence[Middleware] = (), *, drain: Drain | None = None, redact: Redactor | None = None
) -> list[Middleware]:
    """The middleware stack, outermost first.

    1. `RequestContext` — request id, ``x-request-id`` header, access log
       (outermost, so even a 401 is logged with its id);
    2. `DrainGuard` (with ``drain``) — counts requests in flight; while the gateway
       shuts down, new ones get 503 + Retry-After;
    3. `GatewayAuth` — gateway keys, sets the tenant;
    4. ``extra`` — e.g. metrics, tenant limits, budgets: they see the tenant.
    """
    guard = [Middleware(DrainGuard, drain=drain, redact=redact or Redactor())] if drain is not None else []
    return [
        Middleware(RequestContext),
        *guard,
        Middleware(GatewayAuth, keys=engine.config.gateway.api_keys),
        *extra,
    ]


def create_app(
    engine: Engine,
    *,
    routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    redactor: Redactor | None = None,
    serving: bool = False,
) -> Starlette:
    """The gateway for ``engine``; the app owns it and closes it on shutdown.

    ``serving``: this process exists to serve the app (``modelyard serve``, the
    ``app_from_env`` factories): after start-up its garbage collector is set as
    ``gateway.gc`` says (`modelyard.server.gctune`). Left False, the interpreter's
    collector is not touched (tests, embedding the app in another program).

    ``app.state.drain`` is the gateway's `Drain`: SIGTERM/SIGINT (main thread) or
    ``drain.begin()`` start the graceful shutdown described in `modelyard.server.drain`.
    """
    redact = redactor or Redactor.from_env(
        (spec.api_key_env for spec in engine.config.models.values()), engine.provider_context.env
    )
    api = OpenAIAPI(engine, redact)
    gateway = engine.config.gateway
    drain = Drain(gateway.drain_s, gateway.drain_retry_after_s)

    async def on_modelyard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelyardError)
        info = request_info(request.scope)
        info.error_type = exc.error_type
        return exception_response(exc, redact)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return error_response(exc.status_code, message, kind, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal error in the gateway", "api_error")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await warm_up(engine, redact)
        if serving:
            gctune.tune(gateway.gc)
        restore = drain.install_signal_handlers(asyncio.get_running_loop())
        try:
            yield
        finally:
            restore()
            await api.aclose()
            await engine.aclose()

    if engine.telemetry is not None:  # /metrics, /v1/feedback, /dashboard
        from modelyard.telemetry.http import telemetry_routes

        routes = [*telemetry_routes(engine.telemetry), *routes]
    app = Starlette(
        routes=[*api.routes(), *routes],
        middleware=build_middleware(engine, middleware, drain=drain, redact=redact),
        exception_handlers={
            ModelyardError: on_modelyard_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.drain = drain
    return app


async def warm_up(engine: Engine, redact: Redactor) -> None:
    """Call every provider's async ``warmup()`` (load weights, open pools) before serving.

    A failed warm-up is logged, not fatal: the model's own calls will fail
    with the same error and fallbacks can route around it.
    """

    async def one(name: str, provider: object) -> None:
        warm = getattr(provider, "warmup", None)
        if warm is None or not inspect.iscoroutinefunction(warm):
            return
        try:
            await warm()
        except ModelyardError as exc:
            log.warning("warm-up of %s failed: %s", name, redact(str(exc)))

    await asyncio.gather(*(one(name, p) for name, p in engine.providers.items()))


def app_from_env() -> Starlette:
    """App factory for multi-worker servers: each worker builds its engine from ``$MODELYARD_CONFIG``."""
    path = os.environ.get(CONFIG_ENV)
    return create_app(Engine.from_config(path or None), serving=True)
