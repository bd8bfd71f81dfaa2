"""The OpenAI-compatible endpoints: chat completions, embeddings, models, health.

Each endpoint is thin: read the body, take the routing hints off it, validate
it once into modelyard's request type, hand it to the `Engine`, and write the
answer in OpenAI's shape with the ``modelyard`` field and headers. Errors are
raised as `modelyard.errors` and turned into OpenAI error bodies by the
handler in `modelyard.server.app`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.engine import Engine
from modelyard.errors import ModelyardError, RequestError, UnknownModelError
from modelyard.media.prepare import MediaGate
from modelyard.pipeline import PipelineRunner
from modelyard.server.context import RequestInfo, request_info
from modelyard.server.disconnect import unless_client_leaves
from modelyard.server.errors import PayloadTooLargeError, Redactor, invalid_body
from modelyard.server.hints import routing_hints
from modelyard.server.jsonio import JSONDecodeError, dumps, loads
from modelyard.server.media_api import MediaAPI, image_headers, note_images
from modelyard.server.shapes import (
    completion_body,
    embedding_body,
    extension,
    model_entries,
    route_of,
    routing_headers,
)
from modelyard.server.sse import ChunkFramer, SSEResponse
from modelyard.types import ChatRequest, EmbeddingRequest, RequestTrace, StreamChunk

__all__ = ["OpenAIAPI"]

_JSON = "application/json"


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), media_type=_JSON, headers=headers)


class OpenAIAPI:
    """The endpoints for one engine. Static answers (the model list) are built once."""

    def __init__(self, engine: Engine, redact: Redactor) -> None:
        self.engine = engine
        self.redact = redact
        gateway = engine.config.gateway
        self.max_bytes = gateway.max_request_bytes
        self.max_n = gateway.max_n
        self.default_model = gateway.default_model
        self._entries = {entry["id"]: entry for entry in model_entries(engine.config)}
        for name, spec in engine.config.pipelines.items():  # callable as model "pipeline:NAME" (docs/pipelines.md)
            self._entries[f"pipeline:{name}"] = {
                "id": f"pipeline:{name}",
                "object": "model",
                "created": 0,
                "owned_by": "modelyard-pipeline",
                "kind": "pipeline",
                "stages": list(spec.stages),
                "description": spec.description,
            }
        self._models_body = dumps({"object": "list", "data": list(self._entries.values())})
        self.media = MediaGate(engine.config.media)  # image checks at the edge, before routing
        self.pipelines = PipelineRunner.for_engine(engine) if engine.config.pipelines else None  # model "pipeline:…"

    async def aclose(self) -> None:
        if self.pipelines is not None:
            await self.pipelines.aclose()

    def _runner(self, chat: ChatRequest) -> Engine | PipelineRunner:
        """The pipeline runner for ``pipeline:NAME`` models, else the engine."""
        return self.pipelines if self.pipelines is not None and self.pipelines.handles(chat.model) else self.engine

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            *MediaAPI(self.engine, self.media, self._read_json).routes(),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.retrieve_model, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
        ]

    # -- chat -------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response | SSEResponse:
        info = request_info(request.scope)
        body = await self._read_json(request)
        hints = routing_hints(request.scope["headers"], body, tenant=info.tenant)
        info.tenant = hints.tenant
        if body.get("n") is not None:
            _check_n(body["n"], self.max_n)
        if not body.get("model"):
            body["model"] = self.default_model
        body["hints"] = hints
        try:
            chat = ChatRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid_body(exc) from None
        chat, images = await self.media.prepare(chat)  # 400 naming a bad image part; no router or model sees it
        trace = self.engine.new_trace(chat)
        trace.request_id = info.request_id
        note_images(trace, images)
        if chat.stream:
            return await self._stream(chat, trace, info)

        done = await unless_client_leaves(request.receive, self._runner(chat).chat(chat, trace=trace))
        if done is None:  # nobody is left to answer; the upstream calls were cancelled, as for a stream
            return Response(status_code=499)
        response, decision = done.response, done.decision
        family = decision.family or response.family
        ext = extension(
            decision,
            trace,
            model=response.model,
            family=family.value if family else None,
            simulated=response.simulated,
        )
        self._record(info, response.model, route_of(decision), trace.cost_usd, response.simulated)
        headers = routing_headers(response.model, info.route or "direct", trace.cost_usd, response.simulated)
        headers.update(image_headers(trace, self.engine.config.models.get(response.model)))
        return _json(completion_body(response, ext), headers)

    async def _stream(self, chat: ChatRequest, trace: RequestTrace, info: RequestInfo) -> SSEResponse:
        session = await self._runner(chat).stream(chat, trace=trace)
        chunks = aiter(session)
        first: StreamChunk | None
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except BaseException:
            await session.aclose()
            raise
        # Headers go out only now: the first chunk says who answers (a fallback, when the routed
        # model failed before its first token; an executing router's pick), and every chunk names it.
        decision = trace.decision or session.decision
        model = session.model
        spec = self.engine.config.models.get(model)
        simulated = spec.simulated if spec is not None else False
        family = decision.family.value if decision.family else (spec.family.value if spec else None)
        route = route_of(decision)
        self._record(info, model, route, None, simulated)

        def finish() -> dict[str, Any]:
            final = trace.decision or decision
            info.cost_usd = trace.cost_usd
            return extension(final, trace, model=trace.answered_by or model, family=family, simulated=simulated)

        def on_error(exc: ModelyardError | None) -> None:
            info.cost_usd = trace.cost_usd
            info.error_type = exc.error_type if exc is not None else "api_error"

        options = chat.model_extra.get("stream_options") if chat.model_extra else None
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        headers = routing_headers(model, route, None, simulated)
        headers.update(image_headers(trace, spec))
        return SSEResponse(
            chunks,
            first,
            framer=ChunkFramer(
                trace.request_id.replace("req-", "chatcmpl-", 1), int(trace.started), model, choices=chat.choice_count
            ),
            headers=[(k.encode(), v.encode()) for k, v in headers.items()],
            include_usage=include_usage,
            finish=finish,
            on_error=on_error,
            close=session.aclose,
            redact=self.redact,
        )

    # -- embeddings ---------------------------------------------------------------

    async def embeddings(self, request: Request) -> Response:
        info = request_info(request.scope)
        body = await self._read_json(request)
        hints = routing_hints(request.scope["headers"], body, tenant=info.tenant)
        info.tenant = hints.tenant
        encoding = body.pop("encoding_format", None) or "float"
        if encoding not in ("float", "base64"):
            raise RequestError(
                "encoding_format must be 'float' or 'base64'", param="encoding_format", code="invalid_value"
            )
        dimensions = body.pop("dimensions", None)
        body["input"] = _texts(body.get("input"))
        if not body.get("model"):
            body["model"] = self.default_model
        body["hints"] = hints
        try:
            embed_request = EmbeddingRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid_body(exc) from None
        trace = self.engine.new_trace(embed_request, endpoint="embeddings")
        trace.request_id = info.request_id
        response, decision, trace = await self.engine.embed(embed_request, trace=trace)
        if dimensions is not None and response.vectors and dimensions != len(response.vectors[0]):
            raise RequestError(
                f"dimensions={dimensions} is not supported by {response.model!r} "
                f"(it returns {len(response.vectors[0])})",
                param="dimensions",
                code="unsupported_value",
            )
        family = decision.family.value if decision.family else None
        ext = extension(decision, trace, model=response.model, family=family, simulated=response.simulated)
        self._record(info, response.model, route_of(decision), trace.cost_usd, response.simulated)
        headers = routing_headers(response.model, info.route or "direct", trace.cost_usd, response.simulated)
        return _json(embedding_body(response, ext, encoding=encoding), headers)

    # -- models, health -----------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return Response(self._models_body, media_type=_JSON)

    async def retrieve_model(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        entry = self._entries.get(model_id)
        if entry is None:
            raise UnknownModelError(model_id, list(self._entries))
        return _json(entry)

    async def healthz(self, request: Request) -> Response:
        config = self.engine.config
        return _json({"status": "ok", "models": len(config.models), "routers": len(config.routers)})

    # -- helpers -----------------------------------------------------------------

    @staticmethod
    def _record(info: RequestInfo, model: str, route: str, cost: float | None, simulated: bool) -> None:
        info.model, info.route, info.cost_usd, info.simulated = model, route, cost, simulated

    async def _read_json(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object; 413 past the size limit, 400 when not JSON."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise _too_large(self.max_bytes)
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > self.max_bytes:
                raise _too_large(self.max_bytes)
            parts.append(part)
        raw = b"".join(parts)
        if not raw.strip():
            raise RequestError("the request body is empty; send a JSON object", code="invalid_json")
        try:
            body = loads(raw)
        except JSONDecodeError:
            raise RequestError("the request body is not valid JSON", code="invalid_json") from None
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object", code="invalid_json")
        return body


def _check_n(n: Any, limit: int) -> None:
    """``n`` is a whole number of choices from 1 to ``gateway.max_n``; anything else is a 400 naming ``n``."""
    if type(n) is not int or n < 1:
        raise RequestError(f"n must be a whole number >= 1, got {n!r}", param="n", code="invalid_value")
    if n > limit:
        raise RequestError(
            f"n={n} asks for more choices than this gateway allows (gateway.max_n = {limit})",
            param="n",
            code="invalid_value",
        )


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is larger than {limit} bytes", code="request_too_large")


def _texts(raw: Any) -> list[str]:
    """``input`` as a list of strings; token arrays are refused with a clear reason."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return raw
    if isinstance(raw, list) and raw and all(isinstance(item, int | list) for item in raw):
        raise RequestError(
            "token-array input is not supported; send a string or a list of strings",
            param="input",
            code="unsupported_value",
        )
    raise RequestError("input must be a string or a non-empty list of strings", param="input", code="invalid_value")
