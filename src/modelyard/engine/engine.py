"""The engine: config → registry, providers, routers; one request end to end.

The flow is one way: request → router(s) → call path (resilience) → provider,
with a trace filled on the way and handed to listeners (telemetry) at the end.
The gateway and the CLI are thin layers over this class.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.config import Config, load_config, load_default_config
from modelyard.encoders import default_encoder
from modelyard.engine.choices import ChoiceCalls, execute_choices
from modelyard.engine.resolve import resolve
from modelyard.errors import ConfigError, ModelyardError, ProviderError, RequestError
from modelyard.providers import Provider, ProviderContext, create_provider
from modelyard.providers.calls import CallPath, ModelCalls
from modelyard.registry import AlwaysAvailable, Availability, Registry
from modelyard.routing import BuildContext, RouteContext, Router, build_routers

if TYPE_CHECKING:
    from modelyard.resilience import Resilience
    from modelyard.telemetry import TelemetryHub
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    Deadline,
    Decision,
    EmbeddingRequest,
    EmbeddingResponse,
    RequestTrace,
    StreamChunk,
    new_id,
)

__all__ = ["Completion", "Engine", "RequestListener", "StreamSession"]

log = logging.getLogger("modelyard")


class RequestListener(Protocol):
    """Told about every finished request. Must return fast and never raise."""

    def on_request_end(self, trace: RequestTrace) -> None: ...


class TextListener(Protocol):
    """A listener that set ``captures_text = True`` is also told the prompt and answer text.

    Called just before ``on_request_end``; listeners without the flag never see text.
    """

    captures_text: bool

    def on_request_text(self, trace: RequestTrace, prompt: str, answer: str | None) -> None: ...


class Completion:
    """A finished chat request: the answer, the decision and the trace."""

    __slots__ = ("decision", "response", "trace")

    def __init__(self, response: ChatResponse, decision: Decision, trace: RequestTrace) -> None:
        self.response = response
        self.decision = decision
        self.trace = trace

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def model(self) -> str:
        return self.response.model

    @property
    def cost_usd(self) -> float:
        """Everything this request spent, including escalations, judges and retries."""
        return self.trace.cost_usd

    def __repr__(self) -> str:
        return f"Completion(model={self.model!r}, route={' → '.join(self.decision.path)!r}, cost={self.cost_usd:.6f})"


class StreamSession:
    """A streamed answer: iterate for chunks; ``decision`` is known before the first.

    ``model`` is the concrete model answering. It is final once the first chunk
    has been pulled: a fallback may answer when the routed model fails before
    its first token, so commit headers and chunk ``model`` fields after that.
    """

    def __init__(self, decision: Decision, trace: RequestTrace, chunks: AsyncIterator[StreamChunk]) -> None:
        self.decision = decision
        self.trace = trace
        self._chunks = chunks

    @property
    def model(self) -> str:
        """Who answers (``trace.answered_by``); before the first chunk, the routed target."""
        decision = self.trace.decision or self.decision
        return self.trace.answered_by or decision.model or decision.target.name

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


class Engine:
    """Serve requests for one configuration."""

    def __init__(
        self,
        config: Config,
        *,
        provider_context: ProviderContext | None = None,
        listeners: Sequence[RequestListener] = (),
        availability: Availability | None = None,
        calls: CallPath | None = None,
    ) -> None:
        self.config = config
        self.registry = Registry(config.models)
        self.provider_context = provider_context or ProviderContext()
        try:
            self.providers: dict[str, Provider] = {
                name: create_provider(spec, self.provider_context) for name, spec in config.models.items()
            }
        except ConfigError as exc:  # provider options are validated here; name the file like the loader does
            if exc.file is None:
                raise ConfigError(exc.reason, file=config.source, key=exc.key) from None
            raise
        config_dir = Path(config.source).parent if not config.source.startswith("<") else Path.cwd()
        self.routers: dict[str, Router] = build_routers(
            config.routers,
            BuildContext(
                registry=self.registry,
                config_dir=config_dir,
                routers=config.routers,
                encoder_factory=default_encoder,  # one MiniLM session shared by every router
            ),
            source=config.source,
        )
        self.resilience: Resilience | None = None
        if calls is None:  # the configured resilience layer wraps direct calls
            from modelyard.resilience import build_resilience

            self.resilience = build_resilience(config, self.providers, self.registry)
            calls = self.resilience.calls
            availability = availability or self.resilience.availability
        self.availability: Availability = availability or AlwaysAvailable()
        # n > 1 (several choices): passed to providers that take it, fanned out for the rest (engine/choices.py)
        self.calls: CallPath = ChoiceCalls(calls or ModelCalls(self.providers), self.providers)
        self.listeners: list[RequestListener] = list(listeners)
        self.telemetry: TelemetryHub | None = None
        if config.telemetry.enabled:  # records, metrics, traces: a listener like any other
            from modelyard.telemetry import build_hub

            breakers = self.resilience.calls.breakers.states if self.resilience is not None else None
            self.telemetry = build_hub(config, self.provider_context.env, breakers=breakers)
            self.listeners.append(self.telemetry)
        self._text_listeners: list[TextListener] = [
            t for t in self.listeners if getattr(t, "captures_text", False)  # type: ignore[misc]
        ]
        simulated = [name for name, spec in config.models.items() if spec.simulated]
        if simulated:
            log.warning("SIMULATED backends (no model runs, canned/echo text): %s", ", ".join(simulated))

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_config(cls, source: str | os.PathLike[str] | Config | None = None, **kwargs: Any) -> Engine:
        """From a file path, a `Config`, or (None) the embedded default."""
        if source is None:
            config = load_default_config()
        elif isinstance(source, Config):
            config = source
        else:
            config = load_config(source)
        return cls(config, **kwargs)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.provider_context.aclose()
        if self.resilience is not None:
            await self.resilience.aclose()
        if self.telemetry is not None:  # write what is queued, stop the sink threads
            await asyncio.to_thread(self.telemetry.close)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- per request ------------------------------------------------------------

    def new_trace(self, request: ChatRequest | EmbeddingRequest, *, endpoint: str = "chat") -> RequestTrace:
        return RequestTrace(
            request_id=new_id("req"),
            tenant=request.hints.tenant,
            requested_model=request.model,
            stream=bool(getattr(request, "stream", False)),
            n=request.choice_count if isinstance(request, ChatRequest) else 1,
            endpoint=endpoint,
        )

    def deadline_for(self, request: ChatRequest | EmbeddingRequest) -> Deadline:
        budget = request.hints.latency_budget_ms or self.config.gateway.default_latency_budget_ms
        return Deadline.after_ms(budget)

    def _context(self, trace: RequestTrace, deadline: Deadline) -> RouteContext:
        async def call(model: str, request: ChatRequest, *, purpose: str = "answer") -> ChatResponse:
            return await self.calls.chat(model, request, trace=trace, deadline=deadline, purpose=purpose)

        return RouteContext(
            registry=self.registry,
            availability=self.availability,
            deadline=deadline,
            trace=trace,
            strategy=self.config.selection,
            call=call,
        )

    def _name(self, request: ChatRequest | EmbeddingRequest) -> str:
        """The model or router to start from; ``default`` (or nothing) means ``gateway.default_model``."""
        name = request.model
        if not name or (name == "default" and name not in self.routers and name not in self.registry):
            return self.config.gateway.default_model
        return name

    async def route(self, request: ChatRequest, *, trace: RequestTrace | None = None) -> Decision:
        """Decide without calling any model (executing routers are named, not run)."""
        trace = trace or self.new_trace(request)
        ctx = self._context(trace, self.deadline_for(request))
        decision, _ = await resolve(self._name(request), request, self.routers, ctx)
        return decision

    async def chat(self, request: ChatRequest, *, trace: RequestTrace | None = None) -> Completion:
        trace = trace or self.new_trace(request)
        deadline = self.deadline_for(request)
        ctx = self._context(trace, deadline)
        answer: str | None = None
        try:
            if self.resilience is not None:  # tenant rate limit (429) and budget (402) at the door
                await self.resilience.admit(request, trace)
            decision, executor = await resolve(self._name(request), request, self.routers, ctx)
            trace.decision = decision
            if executor is not None:
                execution = await execute_choices(executor, request, ctx, self.calls)  # once per choice
                decision = decision.then(execution.decision) if decision.path else execution.decision
                response = execution.response
                trace.details.update(execution.details)
            else:
                assert decision.model is not None
                response = await self.calls.chat(decision.model, request, trace=trace, deadline=deadline)
            trace.decision = decision
            trace.answered_by = response.model
            answer = response.text
            return Completion(response, decision, trace)
        except ModelyardError as exc:
            response, decision = self._safe_default(exc, trace, trace.decision)
            answer = response.text
            return Completion(response, decision, trace)
        finally:
            self._give_text(trace, request, answer)
            self._finish(trace)

    async def stream(self, request: ChatRequest, *, trace: RequestTrace | None = None) -> StreamSession:
        """Route now (errors raise here, before any byte is sent); stream on iteration."""
        trace = trace or self.new_trace(request)
        trace.stream = True
        deadline = self.deadline_for(request)
        ctx = self._context(trace, deadline)
        try:
            if self.resilience is not None:
                await self.resilience.admit(request, trace)
            decision, executor = await resolve(self._name(request), request, self.routers, ctx)
        except ModelyardError as exc:
            answer: str | None = None
            try:
                response, decision = self._safe_default(exc, trace, None)
                answer = response.text
            finally:  # answered with the apology or failed: either way the request ends here
                self._give_text(trace, request, answer)
                self._finish(trace)
            return StreamSession(decision, trace, _chunks_of(response))
        trace.decision = decision
        return StreamSession(decision, trace, self._stream_chunks(request, decision, executor, ctx))

    async def _stream_chunks(
        self, request: ChatRequest, decision: Decision, executor: Any, ctx: RouteContext
    ) -> AsyncIterator[StreamChunk]:
        trace = ctx.trace
        sent = False  # once a chunk is out, a failure ends the stream instead of a safe default
        parts: list[str] | None = [] if self._text_listeners else None  # answer text, only if captured
        try:
            if executor is not None:
                execution = await execute_choices(executor, request, ctx, self.calls)  # once per choice
                trace.decision = decision.then(execution.decision) if decision.path else execution.decision
                trace.answered_by = execution.response.model
                trace.details.update(execution.details)
                trace.ttft_ms = trace.elapsed_ms()
                if parts is not None:
                    parts.append(execution.response.text)
                async for chunk in _chunks_of(execution.response):
                    yield chunk
                return
            assert decision.model is not None
            first = True
            async for chunk in self.calls.stream(decision.model, request, trace=trace, deadline=ctx.deadline):
                if not sent:  # the call path names a fallback that answered; a direct path answers as routed
                    trace.answered_by = trace.answered_by or decision.model
                if first and (chunk.text or chunk.tool_calls):
                    trace.ttft_ms = trace.elapsed_ms()
                    first = False
                sent = True
                if parts is not None and chunk.index == 0:  # the captured answer is choice 0's, as in chat
                    parts.append(chunk.text)
                yield chunk
        except ModelyardError as exc:
            if sent:
                _fail(trace, exc)
                raise
            response, _ = self._safe_default(exc, trace, decision)
            if parts is not None:
                parts.append(response.text)
            async for chunk in _chunks_of(response):
                yield chunk
        finally:
            self._give_text(trace, request, "".join(parts) if parts else None)
            self._finish(trace)

    async def embed(
        self, request: EmbeddingRequest, *, trace: RequestTrace | None = None
    ) -> tuple[EmbeddingResponse, Decision, RequestTrace]:
        trace = trace or self.new_trace(request, endpoint="embeddings")
        deadline = self.deadline_for(request)
        ctx = self._context(trace, deadline)
        try:
            probe = ChatRequest.from_text(request.input[0], model=self._name(request), hints=request.hints)
            decision, executor = await resolve(self._name(request), probe, self.routers, ctx)
            if executor is not None or decision.model is None:
                raise RequestError(f"{request.model!r} does not resolve to an embedding model", param="model")
            trace.decision = decision
            response = await self.calls.embed(decision.model, request.input, trace=trace, deadline=deadline)
            trace.answered_by = response.model
            return response, decision, trace
        except ModelyardError as exc:
            _fail(trace, exc)
            raise
        finally:
            if self._text_listeners:
                self._give_text(trace, None, None, prompt="\n".join(request.input))
            self._finish(trace)

    def _safe_default(
        self, exc: ModelyardError, trace: RequestTrace, decision: Decision | None
    ) -> tuple[ChatResponse, Decision]:
        """The configured apology for ``exc`` (the trace says why), or ``exc`` re-raised (the trace failed).

        The one place a failure becomes the safe default, for chat and streams
        alike, whether routing or the call failed.
        """
        if self.resilience is None or not self.resilience.wants_safe_default(exc):
            if self.resilience is not None:  # the gateway's Retry-After, when the wait is known
                exc.retry_after = self.resilience.retry_after(exc)
            _fail(trace, exc)
            raise exc
        return self.resilience.safe_default(exc, trace, decision)

    def _give_text(
        self,
        trace: RequestTrace,
        request: ChatRequest | None,
        answer: str | None,
        *,
        prompt: str | None = None,
    ) -> None:
        """Hand prompt and answer text to the listeners that asked for it (none by default)."""
        if not self._text_listeners:
            return
        if prompt is None:
            prompt = "\n".join(f"{m.role}: {m.text}" for m in request.messages) if request is not None else ""
        for listener in self._text_listeners:
            try:
                listener.on_request_text(trace, prompt, answer)
            except Exception:
                log.exception("text listener %r failed", listener)

    def _finish(self, trace: RequestTrace) -> None:
        trace.latency_ms = trace.elapsed_ms()
        for listener in self.listeners:
            try:
                listener.on_request_end(trace)
            except Exception:  # a broken listener must never fail a request
                log.exception("request listener %r failed", listener)


async def _chunks_of(response: ChatResponse) -> AsyncIterator[StreamChunk]:
    """A whole answer (an executing router's, the safe default) as a stream: the text, then the end.

    Every choice of it (``n > 1``), each ending with its finish; usage on the last chunk.
    """
    for chunk in response.as_chunks():
        yield chunk


def _fail(trace: RequestTrace, exc: ModelyardError) -> None:
    trace.status = "error"
    trace.error = str(exc)[:500]
    trace.error_kind = exc.kind.value if isinstance(exc, ProviderError) else type(exc).__name__


