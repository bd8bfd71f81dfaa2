"""Stop work for a client that has gone: one watcher for plain and streamed answers.

Once a request's body has been read, ASGI's ``receive`` only returns when the client
disconnects. `unless_client_leaves` runs the work (an engine call, or the pump of a
streamed answer) and cancels it when that happens, so the upstream call it waits on is
closed instead of running to the end unread.

Watching costs a task, so it starts only once the work has run ``after_s`` (default
0.2 s): a quick answer pays one timer and no task; a client that leaves a slow answer or
a long stream is noticed within ``after_s``. (This replaced an anyio task group per
stream: a task group, a watcher task and a cancel scope for every streamed request.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

__all__ = ["unless_client_leaves"]

T = TypeVar("T")


async def unless_client_leaves(receive: Receive, work: Awaitable[T], *, after_s: float = 0.2) -> T | None:
    """``work``'s result; None if the client disconnects first (``work`` is then cancelled where it waits).

    A cancellation from anywhere else (server shutdown) propagates as usual.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(after_s, start_watching)
    try:
        return await work
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:  # cancelled by the watcher alone
            return None
        raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
