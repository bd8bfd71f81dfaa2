"""Running one stage: chat (a model, family or router), retrieve (MLM embed + vector index), act (action graph)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.actions.refs import render
from modelyard.config.pipelines import ActStage, ChatStage, PipelineSpec, RetrieveStage
from modelyard.engine.choices import execute_choices
from modelyard.engine.resolve import resolve
from modelyard.errors import BudgetExceededError, RequestError
from modelyard.pipeline.calls import StageCalls, stage_purpose
from modelyard.pipeline.errors import StageFailedError, StageOutputError
from modelyard.pipeline.output import check_output, schema_instruction
from modelyard.routing import ExecutingRouter, RouteContext
from modelyard.types import ChatRequest, ChatResponse, Deadline, Decision, Message, RequestTrace, StreamChunk

if TYPE_CHECKING:
    from modelyard.actions.build import ActionLayer
    from modelyard.engine import Engine

__all__ = ["Retriever", "RunEnv", "StageResult", "run_stage", "stream_chat_stage"]


class Retriever(Protocol):
    """Top-k chunks of a collection for a query vector (see `modelyard.retrieval`)."""

    async def search(
        self, collection: str, vector: list[float], k: int, where: dict[str, Any]
    ) -> list[dict[str, Any]]: ...


@dataclass
class StageResult:
    name: str
    kind: str
    output: Any = None
    text: str = ""
    response: ChatResponse | None = None
    decision: Decision | None = None
    tries: int = 0
    problems: list[str] = field(default_factory=list)
    started_ms: float = 0.0
    latency_ms: float = 0.0
    model: str | None = None

    def scope(self) -> dict[str, Any]:
        return {"output": self.output, "text": self.text, "model": self.model}


@dataclass
class RunEnv:
    """What every stage of one pipeline run shares: the request, its one trace, deadline and budget."""

    engine: Engine
    name: str
    spec: PipelineSpec
    request: ChatRequest
    trace: RequestTrace
    deadline: Deadline
    budget_usd: float | None
    inputs: dict[str, Any]
    retriever: Retriever | None
    actions: ActionLayer | None
    results: dict[str, StageResult] = field(default_factory=dict)

    def scope(self) -> dict[str, Any]:
        return {
            "request": {"text": self.request.last_user_text, "system": self.request.system_text},
            "inputs": self.inputs,
            "stages": {n: r.scope() for n, r in self.results.items()},
        }

    def text(self, template: str) -> str:
        value = render(template, self.scope())
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def check_budget(self, stage: str) -> None:
        if self.budget_usd is not None and self.trace.cost_usd >= self.budget_usd - 1e-12:
            raise BudgetExceededError(
                f"pipeline {self.name!r}: ${self.trace.cost_usd:.6f} spent before stage {stage!r} "
                f"reaches its budget ${self.budget_usd:.6f}"
            )


def _bare(target: str) -> str:
    kind, sep, rest = target.partition(":")
    return rest if sep and kind in ("model", "router", "family") else target


async def _route(
    env: RunEnv, stage: str, request: ChatRequest
) -> tuple[Decision, ExecutingRouter | None, StageCalls, RouteContext]:
    calls = StageCalls(env.engine.calls, stage)

    async def call(model: str, request: ChatRequest, *, purpose: str = "answer") -> ChatResponse:
        return await calls.chat(model, request, trace=env.trace, deadline=env.deadline, purpose=purpose)

    ctx = RouteContext(
        registry=env.engine.registry,
        availability=env.engine.availability,
        deadline=env.deadline,
        trace=env.trace,
        strategy=env.engine.config.selection,
        call=call,
    )
    decision, executor = await resolve(_bare(request.model), request, env.engine.routers, ctx)
    return decision, executor, calls, ctx


def _chat_request(env: RunEnv, stage: ChatStage, messages: list[Message]) -> ChatRequest:
    hints = env.request.hints.model_copy(update={"max_cost_usd": env.budget_usd})
    try:
        return ChatRequest(
            model=stage.target,
            messages=messages,
            max_tokens=stage.max_tokens,
            temperature=stage.temperature,
            hints=hints,
            **stage.extra,
        )
    except ValueError as exc:
        raise RequestError(f"stage request is invalid: {exc}") from None


def _messages(env: RunEnv, stage: ChatStage) -> list[Message]:
    system = env.text(stage.system) if stage.system else ""
    if stage.output_schema is not None:
        system = f"{system}\n{schema_instruction(stage.output_schema)}".strip()
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=env.text(stage.prompt)))
    return messages


async def _chat_once(env: RunEnv, name: str, request: ChatRequest) -> tuple[ChatResponse, Decision]:
    env.check_budget(name)
    decision, executor, calls, ctx = await _route(env, name, request)
    if executor is not None:
        execution = await execute_choices(executor, request, ctx, calls)
        decision = decision.then(execution.decision) if decision.path else execution.decision
        return execution.response, decision
    assert decision.model is not None
    return await calls.chat(decision.model, request, trace=env.trace, deadline=env.deadline), decision


async def _chat_stage(env: RunEnv, name: str, stage: ChatStage, result: StageResult) -> None:
    messages = _messages(env, stage)
    while True:
        result.tries += 1
        response, decision = await _chat_once(env, name, _chat_request(env, stage, messages))
        result.response, result.decision, result.model = response, decision, response.model
        result.text = response.text
        if stage.output_schema is None:
            result.output = response.text
            return
        value, problem = check_output(response.text, stage.output_schema)
        if problem is None:
            result.output = value
            return
        result.problems.append(problem)
        env.trace.event("pipeline.invalid_output", f"stage {name}: {problem}", stage=name, attempt=result.tries)
        if result.tries > stage.schema_retries:
            raise StageOutputError(env.name, name, result.problems)
        messages = [
            *messages,
            Message(role="assistant", content=response.text),
            Message(role="user", content=f"That answer is invalid ({problem}). Answer again with the JSON only."),
        ]


async def _retrieve_stage(env: RunEnv, name: str, stage: RetrieveStage, result: StageResult) -> None:
    if env.retriever is None:
        raise StageFailedError(env.name, name, "no retrieval layer is configured")
    query = env.text(stage.query)
    embedder = env.engine.config.retrieval.embed_model
    probe = ChatRequest.from_text(query, model=embedder)
    decision, _, calls, _ = await _route(env, name, probe)
    if decision.model is None:
        raise StageFailedError(env.name, name, f"{embedder!r} does not resolve to an embedding model")
    embedded = await calls.embed(decision.model, [query], trace=env.trace, deadline=env.deadline)
    where = render(stage.where, env.scope())
    hits = await env.retriever.search(stage.collection, list(embedded.vectors[0]), stage.k, where)
    result.tries, result.model, result.decision = 1, decision.model, decision
    result.output = hits
    result.text = "\n\n".join(f"[{i}] {h['text']}" for i, h in enumerate(hits, 1))


async def _act_stage(env: RunEnv, name: str, stage: ActStage, result: StageResult) -> None:
    from modelyard.actions.plan import parse_plan, planner_request

    if env.actions is None:
        raise StageFailedError(env.name, name, "no action layer is configured (actions:)")
    tenant = env.request.hints.tenant
    if stage.plan is not None:
        graph = env.actions.plans[stage.plan]
        env.trace.event("pipeline.plan", f"stage {name}: fixed plan {stage.plan!r} from config", stage=name)
    else:
        assert stage.planner is not None and stage.task is not None
        request = planner_request(env.text(stage.task), env.actions.tools, tenant, model=stage.planner)
        request = request.model_copy(
            update={"hints": env.request.hints.model_copy(update={"max_cost_usd": env.budget_usd})}
        )
        response, decision = await _chat_once(env, name, request)  # the one planner call: never repeated
        result.model, result.decision = response.model, decision
        graph = parse_plan(response.text, env.actions.tools, tenant)
        env.trace.event(
            "pipeline.plan", f"stage {name}: planned once by {response.model}", stage=name, simulated=response.simulated
        )
    inputs = render(stage.inputs, env.scope())
    report = await env.actions.executor.run(
        graph,
        run_id=f"{env.trace.request_id}-{name}",
        inputs=inputs,
        tenant=tenant,
        approve=stage.approve,
        dry_run=stage.dry_run,
        trace=env.trace,
        deadline=env.deadline,
        raise_on_failure=True,
    )
    result.tries = 1
    result.output = report.output if report.status == "done" else report.model_dump(mode="json")
    result.text = json.dumps(result.output, ensure_ascii=False, default=str)


_RUNNERS: dict[str, Callable[[RunEnv, str, Any, StageResult], Awaitable[None]]] = {
    "chat": _chat_stage,
    "retrieve": _retrieve_stage,
    "act": _act_stage,
}


async def run_stage(env: RunEnv, name: str) -> StageResult:
    """Run stage ``name`` (its dependencies are done); the result also lands in ``env.results``."""
    stage = env.spec.stages[name]
    result = StageResult(name=name, kind=stage.kind, started_ms=env.trace.elapsed_ms())
    started = time.perf_counter()
    try:
        await _RUNNERS[stage.kind](env, name, stage, result)
    finally:
        result.latency_ms = (time.perf_counter() - started) * 1000.0
    env.results[name] = result
    return result


async def stream_chat_stage(env: RunEnv, name: str) -> tuple[Decision, AsyncIterator[StreamChunk], StageResult]:
    """Route the answer stage now; its chunks stream as they come (text gathered into the result)."""
    stage = env.spec.stages[name]
    assert isinstance(stage, ChatStage) and stage.output_schema is None
    env.check_budget(name)
    result = StageResult(name=name, kind="chat", started_ms=env.trace.elapsed_ms(), tries=1)
    request = _chat_request(env, stage, _messages(env, stage))
    decision, executor, calls, ctx = await _route(env, name, request)
    result.decision = decision
    started = time.perf_counter()

    async def chunks() -> AsyncIterator[StreamChunk]:
        parts: list[str] = []
        try:
            if executor is not None:
                execution = await execute_choices(executor, request, ctx, calls)
                result.decision = decision.then(execution.decision) if decision.path else execution.decision
                result.model = execution.response.model
                parts.append(execution.response.text)
                for chunk in execution.response.as_chunks():
                    yield chunk
                return
            assert decision.model is not None
            result.model = decision.model
            async for chunk in calls.stream(decision.model, request, trace=env.trace, deadline=env.deadline):
                if chunk.index == 0:
                    parts.append(chunk.text)
                yield chunk
        finally:
            result.text = result.output = "".join(parts)
            result.latency_ms = (time.perf_counter() - started) * 1000.0
            env.results[name] = result

    return decision, chunks(), result


async def gather_cancelling(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for all; on the first failure cancel the rest and raise it."""
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


__all__ += ["gather_cancelling", "stage_purpose"]
