"""`PipelineRunner`: a pipeline is a model name (``pipeline:NAME``) the gateway, library and CLI can call.

One run: the tenant is admitted once; every stage shares the request's one
`RequestTrace` (so one telemetry record holds every stage's attempts, cost and
latency), one `Deadline` and one budget. Stages start as soon as the stages they
depend on are done, so independent stages run at the same time. A streamed
request streams the answer stage; the stages before it run first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from modelyard.config.pipelines import ChatStage, PipelineSpec, stage_dependencies
from modelyard.engine import Completion, StreamSession
from modelyard.errors import ModelyardError, ProviderError, UnknownModelError
from modelyard.pipeline.errors import StageFailedError
from modelyard.pipeline.explain import stage_levels
from modelyard.pipeline.stages import Retriever, RunEnv, StageResult, run_stage, stream_chat_stage
from modelyard.types import ChatRequest, ChatResponse, Deadline, Decision, RequestTrace, StreamChunk, Target

if TYPE_CHECKING:
    from modelyard.actions.build import ActionLayer
    from modelyard.engine import Engine

__all__ = ["PIPELINE_PREFIX", "PipelineRunner"]

PIPELINE_PREFIX = "pipeline:"
log = logging.getLogger("modelyard")


class PipelineRunner:
    """Runs the ``pipelines:`` of one engine's config. Build with `PipelineRunner.for_engine`."""

    def __init__(self, engine: Engine, *, actions: ActionLayer | None = None, retriever: Retriever | None = None):
        self.engine = engine
        self.pipelines: dict[str, PipelineSpec] = dict(engine.config.pipelines)
        self.actions = actions
        self.retriever = retriever

    @classmethod
    def for_engine(cls, engine: Engine) -> PipelineRunner:
        """With the action layer (when ``actions:`` declares tools or plans) and the retrieval layer."""
        config = engine.config
        actions = None
        if config.actions.tools or config.actions.plans:
            from modelyard.actions.build import build_actions

            actions = build_actions(config.actions, env=engine.provider_context.env, source=config.source)
        from modelyard.retrieval.collections import Collections

        return cls(engine, actions=actions, retriever=Collections(config.retrieval))

    async def aclose(self) -> None:
        if self.actions is not None:
            await self.actions.aclose()
        closer = getattr(self.retriever, "close", None)
        if closer is not None:
            closer()

    # -- names -----------------------------------------------------------------

    @staticmethod
    def handles(model: str | None) -> bool:
        return bool(model) and str(model).startswith(PIPELINE_PREFIX)

    def names(self) -> list[str]:
        return [f"{PIPELINE_PREFIX}{n}" for n in self.pipelines]

    def spec(self, model: str) -> tuple[str, PipelineSpec]:
        name = model.removeprefix(PIPELINE_PREFIX)
        if name not in self.pipelines:
            raise UnknownModelError(model, self.names())
        return name, self.pipelines[name]

    # -- running ---------------------------------------------------------------

    def _env(self, request: ChatRequest, trace: RequestTrace) -> RunEnv:
        name, spec = self.spec(request.model)
        ms = spec.deadline_ms or request.hints.latency_budget_ms or self.engine.config.gateway.default_latency_budget_ms
        caps = [c for c in (spec.budget_usd, request.hints.max_cost_usd) if c is not None]
        inputs = (request.model_extra or {}).get("pipeline_inputs") or {}
        if not isinstance(inputs, dict):
            from modelyard.errors import RequestError

            raise RequestError("pipeline_inputs must be a JSON object", param="pipeline_inputs")
        return RunEnv(
            engine=self.engine,
            name=name,
            spec=spec,
            request=request,
            trace=trace,
            deadline=Deadline.after_ms(ms),
            budget_usd=min(caps) if caps else None,
            inputs=inputs,
            retriever=self.retriever,
            actions=self.actions,
        )

    async def _stages(self, env: RunEnv, skip: str | None = None) -> None:
        """Run every stage but ``skip``, each as soon as its dependencies are done."""
        deps = {n: stage_dependencies(s) for n, s in env.spec.stages.items() if n != skip}
        running: dict[str, asyncio.Task[StageResult]] = {}
        done: set[str] = set()
        try:
            while len(done) < len(deps):
                for name, wait in deps.items():
                    if name not in running and name not in done and wait <= done:
                        env.trace.event("pipeline.stage", f"{name} started", stage=name)
                        running[name] = asyncio.get_running_loop().create_task(run_stage(env, name))
                finished, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for name in [n for n, t in running.items() if t in finished]:
                    task = running.pop(name)
                    try:
                        task.result()
                    except ModelyardError as exc:
                        raise _stage_error(env.name, name, exc) from exc
                    done.add(name)
        finally:
            for task in running.values():
                task.cancel()
            if running:
                await asyncio.gather(*running.values(), return_exceptions=True)

    async def chat(self, request: ChatRequest, *, trace: RequestTrace | None = None) -> Completion:
        """Run the pipeline ``request.model`` names; the answer is its answer stage's."""
        trace = trace or self.engine.new_trace(request)
        env: RunEnv | None = None
        try:
            env = self._env(request, trace)
            await self._admit(request, trace)
            await self._stages(env)
            answer = env.results[env.spec.answer_stage]
            response = _response_of(answer, env)
            decision = self._decision(env, answer)
            trace.decision, trace.answered_by = decision, response.model
            return Completion(response, decision, trace)
        except ModelyardError as exc:
            _fail(trace, exc)
            raise
        finally:
            self._summarise(trace, env)
            self._finish(trace)

    async def stream(self, request: ChatRequest, *, trace: RequestTrace | None = None) -> StreamSession:
        """Run the stages before the answer now (errors raise here); stream the answer stage on iteration."""
        trace = trace or self.engine.new_trace(request)
        trace.stream = True
        env: RunEnv | None = None
        try:
            env = self._env(request, trace)
            answer_name = env.spec.answer_stage
            answer_spec = env.spec.stages[answer_name]
            dependents = any(answer_name in stage_dependencies(s) for s in env.spec.stages.values())
            streamable = isinstance(answer_spec, ChatStage) and answer_spec.output_schema is None and not dependents
            await self._admit(request, trace)
            await self._stages(env, skip=answer_name if streamable else None)
            if not streamable:
                answer = env.results[answer_name]
                response = _response_of(answer, env)
                decision = self._decision(env, answer)
                trace.decision, trace.answered_by = decision, response.model
                self._summarise(trace, env)
                self._finish(trace)
                return StreamSession(decision, trace, _as_chunks(response))
            stage_decision, chunks, result = await stream_chat_stage(env, answer_name)
        except ModelyardError as exc:
            _fail(trace, exc)
            self._summarise(trace, env)
            self._finish(trace)
            raise
        decision = self._decision(env, result, stage_decision)
        trace.decision = decision
        return StreamSession(decision, trace, self._streamed(env, chunks, result))

    async def _streamed(
        self, env: RunEnv, chunks: AsyncIterator[StreamChunk], result: StageResult
    ) -> AsyncIterator[StreamChunk]:
        trace = env.trace
        first = True
        try:
            async for chunk in chunks:
                if first and chunk.text:
                    trace.ttft_ms, first = trace.elapsed_ms(), False
                trace.answered_by = trace.answered_by or result.model
                yield chunk
        except ModelyardError as exc:
            _fail(trace, _stage_error(env.name, result.name, exc))
            raise
        finally:
            trace.decision = self._decision(env, result, trace.decision)
            self._summarise(trace, env)
            self._finish(trace)

    # -- bookkeeping ------------------------------------------------------------

    async def _admit(self, request: ChatRequest, trace: RequestTrace) -> None:
        if self.engine.resilience is not None:  # the tenant's rate limit and budget, once per pipeline run
            await self.engine.resilience.admit(request, trace)

    def _decision(self, env: RunEnv, answer: StageResult, stage_decision: Decision | None = None) -> Decision:
        inner = answer.decision or stage_decision
        model = answer.model or (inner.model if inner else None)
        return Decision(
            target=Target(kind="router", name=f"{PIPELINE_PREFIX}{env.name}"),
            router=f"{PIPELINE_PREFIX}{env.name}",
            reason=f"pipeline {env.name!r}: "
            + " → ".join(" | ".join(level) for level in stage_levels(env.spec))
            + f"; answer from stage {answer.name!r}",
            path=[f"{PIPELINE_PREFIX}{env.name}", f"stage:{answer.name}", *(inner.path if inner else [])],
            model=model,
            family=inner.family if inner else None,
            candidates=inner.candidates if inner else [],
        )

    def _summarise(self, trace: RequestTrace, env: RunEnv | None) -> None:
        """Every stage's kind, model, tries, attempts, cost and latency in ``trace.details["pipeline"]``."""
        if env is None:
            return
        name, spec, results = env.name, env.spec, env.results
        stages: dict[str, Any] = {}
        for stage_name, stage in spec.stages.items():
            prefix = f"stage:{stage_name}"
            attempts = [a for a in trace.attempts if a.purpose == prefix or a.purpose.startswith(prefix + "/")]
            row: dict[str, Any] = {
                "stage_kind": stage.kind,
                "calls": len(attempts),  # model calls ("attempts" is stripped from records as a duplicate)
                "cost_usd": round(sum(a.cost_usd for a in attempts), 9),
                "models": sorted({a.model for a in attempts}),
                "simulated": any(a.simulated for a in attempts),
            }
            result = results.get(stage_name)
            if result is not None:
                row.update(
                    status="ok",
                    tries=result.tries,
                    started_ms=round(result.started_ms, 1),
                    latency_ms=round(result.latency_ms, 1),
                    invalid_outputs=result.problems,
                )
            else:
                row["status"] = "not run"
            stages[stage_name] = row
            # the stage's summary as an event: events are part of the request's one telemetry record
            trace.event("pipeline.stage", f"{stage_name}: {row['status']}", stage=stage_name, **row)
        trace.details["pipeline"] = {
            "name": name,
            "levels": stage_levels(spec),
            "answer_stage": spec.answer_stage,
            "stages": stages,
        }

    def _finish(self, trace: RequestTrace) -> None:
        trace.latency_ms = trace.elapsed_ms()
        for listener in self.engine.listeners:
            try:
                listener.on_request_end(trace)
            except Exception:  # a broken listener must never fail a request
                log.exception("request listener %r failed", listener)


def _response_of(answer: StageResult, env: RunEnv) -> ChatResponse:
    if answer.response is not None and answer.kind == "chat":
        return answer.response
    return ChatResponse(model=f"{PIPELINE_PREFIX}{env.name}", provider="pipeline", text=answer.text)


async def _as_chunks(response: ChatResponse) -> AsyncIterator[StreamChunk]:
    for chunk in response.as_chunks():
        yield chunk


def _stage_error(pipeline: str, stage: str, exc: ModelyardError) -> ModelyardError:
    if isinstance(exc, StageFailedError):
        return exc
    status = exc.status_code if 400 <= exc.status_code < 500 else None
    kind = f" ({exc.kind.value})" if isinstance(exc, ProviderError) else ""
    return StageFailedError(pipeline, stage, f"{type(exc).__name__}{kind}: {exc}", status_code=status)


def _fail(trace: RequestTrace, exc: ModelyardError) -> None:
    trace.status = "error"
    trace.error = str(exc)[:500]
    trace.error_kind = exc.kind.value if isinstance(exc, ProviderError) else type(exc).__name__
