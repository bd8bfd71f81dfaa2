"""Call several models at once under the request's deadline, and never leave one running.

Each member call is bounded by ``min(member_timeout, time left)``; a member that
fails or times out becomes a recorded `MemberResult`, not an exception, so one
bad member never sinks the others. `first_of` returns as soon as one result is
good enough and cancels the rest — cancelled calls are recorded on the trace
by the call path (status ``cancelled``) and awaited before returning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelyard.errors import ModelyardError
from modelyard.routing.base import RouteContext
from modelyard.types import ChatRequest, ChatResponse, Family, Target

__all__ = ["Member", "MemberResult", "fan_out", "first_of", "resolve_member"]

Status = Literal["ok", "error", "timeout", "cancelled", "skipped"]


@dataclass(frozen=True)
class Member:
    index: int
    ref: str
    model: str | None
    skip_reason: str | None = None


@dataclass
class MemberResult:
    member: Member
    status: Status
    response: ChatResponse | None = None
    error: str | None = None
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.response is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "member": self.member.ref,
            "model": self.member.model,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.response is not None:
            out["cost_usd"] = self.response.cost_usd
        if self.error:
            out["error"] = self.error[:300]
        out.update(self.extra)
        return out


def resolve_member(index: int, ref: str, request: ChatRequest, ctx: RouteContext) -> Member:
    """A family member becomes the model the registry picks now; a miss is a skipped member."""
    target = Target.parse(ref)
    try:
        if target.kind == "family":
            return Member(index, ref, ctx.select(Family(target.name), request).model.name)
        spec = ctx.registry.get(target.name)
        if not ctx.is_available(spec.name):
            why = "disabled in config" if not spec.enabled else ctx.availability.unavailable_reason(spec.name)
            return Member(index, ref, None, f"model {spec.name!r} is unavailable: {why}")
        return Member(index, ref, spec.name)
    except ModelyardError as exc:
        return Member(index, ref, None, str(exc))


async def call_member(
    member: Member, request: ChatRequest, ctx: RouteContext, *, purpose: str, timeout_s: float | None
) -> MemberResult:
    if member.model is None:
        return MemberResult(member, "skipped", error=member.skip_reason)
    assert ctx.call is not None
    limit = ctx.deadline.cap(timeout_s)
    started = time.perf_counter()
    if limit <= 0:
        return MemberResult(member, "timeout", error="no time left before the call")
    try:
        async with asyncio.timeout(limit):
            response = await ctx.call(member.model, request, purpose=purpose)
    except TimeoutError:
        return MemberResult(
            member, "timeout", error=f"no answer within {limit:.3f}s", latency_ms=_ms(started)
        )
    except ModelyardError as exc:
        status: Status = "timeout" if "timeout" in type(exc).__name__.lower() else "error"
        return MemberResult(member, status, error=f"{type(exc).__name__}: {exc}", latency_ms=_ms(started))
    return MemberResult(member, "ok", response=response, latency_ms=_ms(started))


async def fan_out(
    members: Sequence[Member],
    request: ChatRequest,
    ctx: RouteContext,
    *,
    purpose: str,
    timeout_s: float | None,
) -> list[MemberResult]:
    """Every member concurrently; results in member order."""
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(call_member(m, request, ctx, purpose=purpose, timeout_s=timeout_s))
            for m in members
        ]
    return [t.result() for t in tasks]


async def first_of(
    members: Sequence[Member],
    request: ChatRequest,
    ctx: RouteContext,
    *,
    purpose: str,
    timeout_s: float | None,
    good: Callable[[MemberResult], Awaitable[bool]],
) -> tuple[MemberResult | None, list[MemberResult]]:
    """Run members concurrently; return the first result ``good`` accepts, cancelling the others."""

    async def run(member: Member) -> MemberResult:
        result = await call_member(member, request, ctx, purpose=purpose, timeout_s=timeout_s)
        if result.ok:
            result.extra["valid"] = await good(result)
        return result

    tasks = {asyncio.create_task(run(m)): m for m in members}
    winner: MemberResult | None = None
    try:
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            if result.extra.get("valid"):
                winner = result
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    results = []
    for task, member in tasks.items():
        if task.cancelled():
            results.append(
                MemberResult(member, "cancelled", error="cancelled: another member answered first")
            )
        else:
            results.append(task.result())
    return winner, results


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
