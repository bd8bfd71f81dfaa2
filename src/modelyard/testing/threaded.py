"""Run a loopback server's ``start``/``stop`` pair on its own event loop in a daemon thread.

Used by `LoopbackUpstream.running_in_thread` and `LoopbackService.running_in_thread`,
for tests whose client is synchronous or another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator

__all__ = ["serving_in_thread"]


@contextlib.contextmanager
def serving_in_thread(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]], *, name: str
) -> Iterator[None]:
    """Await ``start()`` on a new loop in a daemon thread named ``name``; run the loop until exit, then ``stop()``.

    An exception from ``start()`` is raised in the caller's thread. Waits at most 10 s for
    the start and 10 s for the thread to end on exit.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to the caller's thread below
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(stop())
        loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    ready.wait(10)
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
