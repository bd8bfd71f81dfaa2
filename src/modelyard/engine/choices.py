"""``n > 1``: several choices for one chat request — one routing decision, one trace.

How the ``n`` choices are made, by `ChoiceCalls` (a `CallPath` around the resilient one):

* **pass-through** — a model whose protocol has ``n`` (OpenAI-compatible ``n``, Gemini
  ``candidateCount``; see `Provider.max_choices`) is asked for them in one call. The
  upstream bills the prompt once and the completion tokens of every choice.
* **fan-out** — otherwise (Anthropic, local models, simulations) each choice is its own
  single-choice call to the routed model, all concurrent, each through the whole
  resilience path (its own retries, fallback, breaker, limits and budget reservation)
  and each paying its own prompt.
* **top-up** — a pass-through that answers fewer choices than asked (a compatible server
  that ignores ``n``, a fallback to a model without it, more than the protocol allows)
  is filled up with fanned-out single-choice calls, and a ``choices_topped_up`` event.

Every call records its attempts on a child trace, moved into the request's trace when the
call ends (`Attempt.choice` names the choice a fanned-out call answered; its events carry
``choice`` in their data). Concurrent calls therefore never see each other's attempts, so
each one settles its own budget reservation. A fanned-out choice ``i`` of a request with a
``seed`` is sent ``seed + i``: reproducible, and not ``n`` copies of one sample.

Executing routers (cascade, council) decide per answer, so `execute_choices` runs the whole
route once per choice, concurrently; choice 0's decision is the request's.

A choice that fails fails the request and cancels the other calls; the engine then answers
as it does for one choice (the error, or ``n`` copies of the safe default). In a stream,
chunks are held back until choice 0 has begun, so the model named in the headers is the
one answering choice 0, as in a non-streamed answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from modelyard.providers import Provider
from modelyard.providers.calls import CallPath
from modelyard.routing import ExecutingRouter, Execution, RouteContext
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Deadline,
    EmbeddingResponse,
    RequestTrace,
    StreamChunk,
    Usage,
    new_id,
)

__all__ = ["ChoiceCalls", "execute_choices", "merge_choices"]

T = TypeVar("T")


class ChoiceCalls:
    """A `CallPath` answering ``n > 1`` by pass-through, fan-out and top-up; ``n = 1`` goes straight through.

    ``providers`` says how many choices each model's protocol returns in one call
    (`Provider.max_choices`).
    """

    def __init__(self, inner: CallPath, providers: Mapping[str, Provider]) -> None:
        self.inner = inner
        self.providers = providers

    def _plan(self, model: str, n: int) -> list[tuple[int, int]]:
        """(first choice, how many) per call: one pass-through call, the rest one choice each."""
        provider = self.providers.get(model)
        native = max(1, min(n, provider.max_choices if provider is not None else 1))
        return [(0, native), *((i, 1) for i in range(native, n))]

    # -- CallPath ---------------------------------------------------------------------

    async def chat(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> ChatResponse:
        n = request.choice_count
        if n == 1:
            return await self.inner.chat(model, request, trace=trace, deadline=deadline, purpose=purpose)

        async def call(first: int, count: int) -> ChatResponse:
            child = _child(trace)
            try:
                sub = _sub_request(request, first, count)
                return await self.inner.chat(model, sub, trace=child, deadline=deadline, purpose=purpose)
            finally:
                _adopt(trace, child, first if count == 1 else None)

        plan = self._plan(model, n)
        answers = await all_or_none([call(first, count) for first, count in plan])
        slots: dict[int, tuple[Choice, ChatResponse]] = {}
        for (first, count), response in zip(plan, answers, strict=True):
            for choice in response.all_choices()[:count]:
                slots[first + choice.index] = (choice, response)
        missing = [i for i in range(n) if i not in slots]
        if missing:
            _topped_up(trace, model, n, missing)
            more = await all_or_none([call(i, 1) for i in missing])
            answers += more
            slots.update({i: (r.all_choices()[0], r) for i, r in zip(missing, more, strict=True)})
        return merge_choices([slots[i] for i in range(n)], answers)

    def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]:
        """Chunks of every choice, re-indexed 0..n-1 as they come; then one chunk with all the usage.

        With ``n = 1`` this is the inner path's own iterator: no generator in between, which
        would cost a resumption per chunk.
        """
        if request.choice_count == 1:
            return self.inner.stream(model, request, trace=trace, deadline=deadline, purpose=purpose)
        return self._stream_choices(model, request, trace, deadline, purpose)

    async def _stream_choices(
        self, model: str, request: ChatRequest, trace: RequestTrace, deadline: Deadline, purpose: str
    ) -> AsyncIterator[StreamChunk]:
        n = request.choice_count
        usage = Usage()
        finished: set[int] = set()
        plan = self._plan(model, n)
        first_round = True
        while True:
            merged = _Merge(self.inner, model, request, trace, deadline, plan, purpose, hold_for_first=first_round)
            try:
                async for chunk in merged:
                    if chunk.finish_reason is not None:
                        finished.add(chunk.index)
                    yield chunk
            finally:
                await merged.aclose()
                usage = usage + merged.usage
            missing = [i for i in range(n) if i not in finished]
            if not missing or not first_round:
                break
            _topped_up(trace, model, n, missing)
            plan, first_round = [(i, 1) for i in missing], False
        yield StreamChunk(usage=usage)

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        return await self.inner.embed(model, texts, trace=trace, deadline=deadline)


async def execute_choices(
    executor: ExecutingRouter, request: ChatRequest, ctx: RouteContext, calls: CallPath
) -> Execution:
    """Run an executing router once per choice (concurrently) and merge the answers.

    ``calls`` is the engine's call path; each run gets a context whose ``call``
    records on that run's own child trace. Choice 0's decision, details and
    quality scores are the request's; the other runs' details are kept under
    ``details["choices"]``.
    """
    n = request.choice_count
    if n == 1:
        return await executor.execute(request, ctx)

    async def run(i: int) -> Execution:
        child = _child(ctx.trace)

        async def call(model: str, request: ChatRequest, *, purpose: str = "answer") -> ChatResponse:
            return await calls.chat(model, request, trace=child, deadline=ctx.deadline, purpose=purpose)

        sub_ctx = dataclasses.replace(ctx, trace=child, call=call)
        try:
            return await executor.execute(_sub_request(request, i, 1), sub_ctx)
        finally:
            _adopt(ctx.trace, child, i)
            if i == 0:
                ctx.trace.quality.update(child.quality)

    runs = await all_or_none([run(i) for i in range(n)])
    responses = [r.response for r in runs]
    response = merge_choices([(r.all_choices()[0], r) for r in responses], responses)
    details = {**runs[0].details, "choices": [r.details for r in runs[1:]]}
    return Execution(response=response, decision=runs[0].decision, details=details)


def merge_choices(
    slots: Sequence[tuple[Choice, ChatResponse]], responses: Sequence[ChatResponse]
) -> ChatResponse:
    """One answer from ``slots`` (choice ``i`` and the response it came from) and every call's response.

    Choice 0's response names the model; usage, cost and images add up over
    ``responses`` (each call once: a pass-through answer is counted once for all
    its choices).
    """
    lead = slots[0][1]
    choices = [
        Choice(
            index=i,
            text=choice.text,
            finish_reason=choice.finish_reason,
            tool_calls=choice.tool_calls,
            logprobs=choice.logprobs,
            model=choice.model or response.model,
        )
        for i, (choice, response) in enumerate(slots)
    ]
    usage = Usage()
    for response in responses:
        usage = usage + response.usage
    first = choices[0]
    return ChatResponse(
        id=new_id(),
        created=int(time.time()),
        model=lead.model,
        provider=lead.provider,
        family=lead.family,
        text=first.text,
        finish_reason=first.finish_reason,
        tool_calls=first.tool_calls,
        logprobs=first.logprobs,
        images=[image for r in responses for image in r.images],
        usage=usage,
        cost_usd=sum(r.cost_usd for r in responses),
        latency_ms=max(r.latency_ms for r in responses),
        simulated=any(r.simulated for r in responses),
        upstream_model=lead.upstream_model,
        choices=choices,
    )


async def all_or_none(calls: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``calls`` concurrently; the results in order, or the first failure after cancelling the rest."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Merge:
    """One round of concurrent streams, one per (first choice, count), merged into re-indexed chunks.

    Usage chunks are taken off (summed in ``usage``); a failure in any stream
    ends the merge with that error and cancels the others. With
    ``hold_for_first`` nothing is yielded until the stream answering choice 0
    has yielded, and its answering model becomes ``trace.answered_by``.
    """

    def __init__(
        self,
        inner: CallPath,
        model: str,
        request: ChatRequest,
        trace: RequestTrace,
        deadline: Deadline,
        plan: list[tuple[int, int]],
        purpose: str,
        *,
        hold_for_first: bool,
    ) -> None:
        self.plan = plan
        self.trace = trace
        self.usage = Usage()
        #: (job, its child trace, a chunk | the error that ended it | None at its end)
        self._queue: asyncio.Queue[tuple[int, RequestTrace, StreamChunk | Exception | None]] = asyncio.Queue()
        self._hold = hold_for_first and plan[0][0] == 0
        self._tasks = [
            asyncio.ensure_future(self._pump(job, inner, model, request, deadline, purpose))
            for job in range(len(plan))
        ]

    async def _pump(
        self, job: int, inner: CallPath, model: str, request: ChatRequest, deadline: Deadline, purpose: str
    ) -> None:
        first, count = self.plan[job]
        child = _child(self.trace)
        sub = _sub_request(request, first, count)
        chunks = inner.stream(model, sub, trace=child, deadline=deadline, purpose=purpose)
        ended: Exception | None = None
        try:
            async for chunk in chunks:
                await self._queue.put((job, child, chunk))
        except Exception as exc:  # handed to the consumer (after the attempts are recorded), which raises it
            ended = exc
        finally:
            try:
                await _aclose(chunks)
            finally:
                _adopt(self.trace, child, first if count == 1 else None)
        self._queue.put_nowait((job, child, ended))

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        running = len(self._tasks)
        held: list[StreamChunk] = []
        while running:
            job, child, item = await self._queue.get()
            if isinstance(item, Exception):
                raise item
            first, count = self.plan[job]
            if item is None:
                running -= 1
                if job == 0 and self._hold:  # choice 0's stream said nothing: stop holding the rest
                    self._hold = False
                    for chunk in held:
                        yield chunk
                continue
            if item.usage is not None:
                self.usage = self.usage + item.usage
            if item.index >= count or not (item.text or item.tool_calls or item.logprobs or item.finish_reason):
                continue
            chunk = item.model_copy(update={"index": first + item.index, "usage": None})
            if self._hold:
                if job != 0:
                    held.append(chunk)
                    continue
                self._hold = False
                self.trace.answered_by = child.answered_by or self.trace.answered_by
                for early in held:
                    yield early
            yield chunk

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _sub_request(request: ChatRequest, first: int, count: int) -> ChatRequest:
    """The request for one call: ``n = count``; a lone choice ``i > 0`` gets ``seed + i``."""
    update: dict[str, Any] = {"n": count if count > 1 else None}
    if count == 1 and first and request.seed is not None:
        update["seed"] = request.seed + first
    return request.model_copy(update=update)


def _child(trace: RequestTrace) -> RequestTrace:
    """A trace for one of several concurrent calls: same request and clock, its own attempts and events."""
    return trace.model_copy(update={"attempts": [], "events": [], "details": {}, "quality": {}})


def _adopt(trace: RequestTrace, child: RequestTrace, choice: int | None) -> None:
    """Move what a child trace recorded into the request's trace, tagged with the choice it answered."""
    for attempt in child.attempts:
        attempt.choice = choice
    trace.attempts.extend(child.attempts)
    for event in child.events:
        if choice is not None:
            event.data["choice"] = choice
    trace.events.extend(child.events)
    child.attempts, child.events = [], []


def _topped_up(trace: RequestTrace, model: str, n: int, missing: list[int]) -> None:
    trace.event(
        "choices_topped_up",
        f"{model} answered {n - len(missing)} of {n} choices; the other {len(missing)} run as separate calls",
        model=model,
        missing=missing,
    )


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()
