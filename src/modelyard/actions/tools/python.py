"""Python callables as tools."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from modelyard.actions.errors import ToolError
from modelyard.actions.tools.base import Lookup

__all__ = ["PythonTool", "import_callable"]


class PythonTool:
    """A sync or async function called with the step's args as keyword arguments.

    When the function has an ``idempotency_key`` parameter it receives the key.
    A sync function runs in a worker thread. `ToolError` passes through;
    ``TimeoutError`` becomes kind ``timeout``, ``ConnectionError`` kind
    ``connection``, any other exception kind ``tool`` (not retried by default).
    ``lookup``: an optional function ``key → (applied, result) | None``.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        side_effect: bool = False,
        input_schema: dict[str, Any] | None = None,
        description: str = "",
        lookup: Callable[[str], Lookup | Awaitable[Lookup]] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.side_effect = side_effect
        self.input_schema = input_schema
        self.description = description or (inspect.getdoc(fn) or "").split("\n")[0]
        self._lookup = lookup
        params = inspect.signature(fn).parameters
        self._takes_key = "idempotency_key" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )

    def __repr__(self) -> str:
        return f"PythonTool({self.name!r}, side_effect={self.side_effect})"

    async def call(self, args: dict[str, Any], *, idempotency_key: str | None) -> Any:
        kwargs = dict(args)
        if self._takes_key and idempotency_key is not None:
            kwargs["idempotency_key"] = idempotency_key
        try:
            if inspect.iscoroutinefunction(self.fn):
                return await self.fn(**kwargs)
            return await asyncio.to_thread(self.fn, **kwargs)
        except ToolError:
            raise
        except TimeoutError as exc:
            raise ToolError(f"{self.name}: timed out ({exc})", kind="timeout", in_doubt=self.side_effect) from None
        except ConnectionError as exc:
            raise ToolError(f"{self.name}: {type(exc).__name__}: {exc}", kind="connection") from None
        except TypeError as exc:  # wrong arguments for the signature
            raise ToolError(f"{self.name}: {exc}", kind="bad_request") from None
        except Exception as exc:
            raise ToolError(f"{self.name}: {type(exc).__name__}: {exc}", kind="tool") from None

    async def lookup(self, idempotency_key: str) -> Lookup:
        if self._lookup is None:
            return None
        answer = self._lookup(idempotency_key)
        if inspect.isawaitable(answer):
            return await answer
        return answer

    async def aclose(self) -> None:
        return None


def import_callable(ref: str) -> Callable[..., Any]:
    """``package.module:function`` → the function; ValueError naming what is missing."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r}: write a callable as 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{ref!r}: cannot import {module_name!r} ({exc})") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{ref!r}: {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{ref!r}: not callable")
    return target  # type: ignore[no-any-return]
