"""The `Tool` seam and `ToolSet`, the tools one executor may call (with per-tenant allow-lists).

A tool is anything with ``call(args, idempotency_key=…) → JSON value`` that
raises `ToolError` (with a ``kind``) when it fails. Side-effecting tools get an
idempotency key on every call — the same key on every retry and after a
resume — and may offer ``lookup(key)``: did a call with this key take effect,
and what did it answer? The executor asks it before sending a side-effecting
call whose earlier try is in doubt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from modelyard.actions.errors import ToolNotAllowedError

__all__ = ["Lookup", "Tool", "ToolSet"]

#: ``lookup`` answers: (True, result) the call took effect; (False, None) it did not;
#: None: this tool cannot tell
Lookup = tuple[bool, Any] | None


@runtime_checkable
class Tool(Protocol):
    name: str
    side_effect: bool
    input_schema: dict[str, Any] | None
    description: str

    async def call(self, args: dict[str, Any], *, idempotency_key: str | None) -> Any:
        """Run once. ``idempotency_key`` is set for side-effecting tools. Raises `ToolError`."""
        ...

    async def lookup(self, idempotency_key: str) -> Lookup:
        """Whether a call with this key took effect (see `Lookup`)."""
        ...

    async def aclose(self) -> None: ...


class ToolSet:
    """Tools by name, and which tenant may use which.

    ``allow`` maps a tenant to the tool names it may use; the key ``"*"`` is
    for every tenant not listed (and for requests without a tenant). With no
    ``allow`` at all every tool is allowed; with one, a tenant that matches no
    key may use none.
    """

    def __init__(self, tools: Iterable[Tool] = (), *, allow: Mapping[str, Iterable[str]] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)
        self.allow = {k: frozenset(v) for k, v in allow.items()} if allow is not None else None

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is defined twice")
        self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def allowed(self, tenant: str | None) -> frozenset[str]:
        if self.allow is None:
            return frozenset(self._tools)
        if tenant is not None and tenant in self.allow:
            return self.allow[tenant]
        return self.allow.get("*", frozenset())

    def check(self, names: Iterable[str], tenant: str | None) -> None:
        """Raise `ToolNotAllowedError` naming every tool in ``names`` the tenant may not use."""
        allowed = self.allowed(tenant)
        refused = sorted({n for n in names if n not in allowed})
        if refused:
            raise ToolNotAllowedError(tenant, refused)

    async def aclose(self) -> None:
        for tool in self._tools.values():
            await tool.aclose()
