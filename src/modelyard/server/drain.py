"""Graceful shutdown: stop taking work, let what is in flight finish, then stop.

On the first SIGTERM or SIGINT the gateway *drains*: requests already in flight
(streams included) run to their end, every new request — ``/healthz`` too, so a
load balancer takes the instance out — gets HTTP 503 with ``Retry-After:
gateway.drain_retry_after_s``, and once nothing is in flight (or after
``gateway.drain_s``) the server's own shutdown runs. A second signal skips the
wait. ``drain_s: 0`` turns draining off (the server stops at once, as uvicorn does).

`Drain` is the state, `DrainGuard` the middleware that counts requests and
refuses new ones. The signal handlers are installed by the app's lifespan in
the main thread and chain to the server's own handlers (uvicorn's), so this
works for one worker and for ``--workers N`` (each worker drains itself).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.server.context import request_info
from modelyard.server.errors import GatewayDrainingError, Redactor, exception_response

__all__ = ["Drain", "DrainGuard"]

log = logging.getLogger("modelyard.server")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_Handler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    """Shutdown state shared by `DrainGuard` and the signal handlers.

    ``grace_s``: the longest the gateway waits for requests in flight;
    ``retry_after_s``: the ``Retry-After`` sent to requests refused meanwhile.
    """

    def __init__(self, grace_s: float, retry_after_s: float) -> None:
        self.grace_s = grace_s
        self.retry_after_s = retry_after_s
        self.draining = False
        self.in_flight = 0
        self._idle: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the middleware's side ---------------------------------------------------

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    # -- shutting down -----------------------------------------------------------

    def begin(self) -> None:
        """Refuse new requests from now on (idempotent)."""
        if not self.draining:
            self.draining = True
            log.warning(
                "draining: %d request(s) in flight may finish (up to %gs); new requests get 503, Retry-After %gs",
                self.in_flight,
                self.grace_s,
                self.retry_after_s,
            )

    async def wait_idle(self) -> bool:
        """Wait until no request is in flight, at most ``grace_s``; True if the gateway went idle."""
        self._idle = asyncio.Event()
        if self.in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), self.grace_s)
        except TimeoutError:
            log.warning("drain: %d request(s) still in flight after %gs; stopping anyway", self.in_flight, self.grace_s)
            return False
        return True

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Drain on the first SIGTERM/SIGINT, then hand the signal to the previous handler.

        Only from the main thread (signals are delivered there); elsewhere, and
        with ``grace_s == 0``, nothing is installed. Returns the function that
        puts the previous handlers back.
        """
        if self.grace_s <= 0 or threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, _Handler] = {sig: signal.getsignal(sig) for sig in _SIGNALS}

        def on_signal(sig: int, frame: FrameType | None) -> None:
            if self.draining:  # a second signal: no more waiting
                _chain(previous[sig], sig, frame)
                return
            self.begin()
            loop.call_soon_threadsafe(self._finish_later, previous[sig], sig, frame)

        for sig in _SIGNALS:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]

        return restore

    def _finish_later(self, handler: _Handler, sig: int, frame: FrameType | None) -> None:
        async def finish() -> None:
            await self.wait_idle()
            _chain(handler, sig, frame)

        task = asyncio.get_running_loop().create_task(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _chain(handler: _Handler, sig: int, frame: FrameType | None) -> None:
    """Let the handler that was there before ours (the server's) act on the signal."""
    if callable(handler):
        handler(sig, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)


class DrainGuard:
    """ASGI middleware: counts HTTP requests in flight; while draining, answers new ones 503 + Retry-After."""

    def __init__(self, app: ASGIApp, *, drain: Drain, redact: Redactor) -> None:
        self.app = app
        self.drain = drain
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        drain = self.drain
        if drain.draining:
            exc = GatewayDrainingError(drain.retry_after_s)
            request_info(scope).error_type = exc.error_type
            await exception_response(exc, self.redact)(scope, receive, send)
            return
        drain.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            drain.leave()
