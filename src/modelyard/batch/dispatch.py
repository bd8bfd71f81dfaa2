"""What one batch item does, keyed by its ``url``: the dispatch table.

Each `Endpoint` turns an item's body into an engine call and the engine's
answer into the OpenAI body the gateway would have sent for the same request
(the same ``completion_body`` / ``embedding_body`` builders, the same
``modelyard`` extension field). New endpoints (images, pipelines) add one
`Endpoint` with `register_endpoint`; nothing else changes.

Errors never escape a handler: a `ModelyardError` becomes an `ItemOutcome`
with the gateway's HTTP status and OpenAI error body, and the trace's cost
(what was spent before the failure) is still counted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from modelyard.errors import ModelyardError, RequestError
from modelyard.server.errors import describe, invalid_body
from modelyard.server.hints import routing_hints
from modelyard.server.shapes import completion_body, embedding_body, extension, route_of
from modelyard.types import ChatRequest, EmbeddingRequest, RequestTrace

if TYPE_CHECKING:
    from modelyard.engine import Engine
    from modelyard.secrets import SecretScrubber

__all__ = ["ENDPOINTS", "Endpoint", "ItemOutcome", "ItemWork", "register_endpoint", "run_item"]


@dataclass(slots=True)
class ItemWork:
    """One item as a worker receives it: the body plus the run's per-item cap and route override.

    ``reserve_usd``: the most this item may spend (its share of the run budget; the
    resilience layer enforces it call by call as the request's ``max_cost``); None = no cap.
    ``route``: a model or router to use instead of the body's ``model`` (budget downgrade).
    """

    custom_id: str
    url: str
    body: dict[str, Any]
    reserve_usd: float | None = None
    route: str | None = None


@dataclass(slots=True)
class ItemOutcome:
    """What happened to one item; picklable (it crosses process boundaries on Ray).

    ``ok`` is True only for a real answer (2xx and not the safe default).
    ``status_code``/``body`` are the HTTP answer the gateway would have given;
    ``error_code``/``error_message`` are set when there was none (``status_code`` 0).
    ``cost_usd`` is everything the item spent, failed attempts included.
    """

    custom_id: str
    ok: bool
    status_code: int
    request_id: str
    body: dict[str, Any] | None
    cost_usd: float
    latency_ms: float
    model: str | None = None
    family: str | None = None
    route: str = ""
    escalations: int = 0
    fallbacks: int = 0
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    simulated: bool = False
    error_code: str | None = None
    error_message: str | None = None
    downgraded: bool = False
    #: calls the item's hold refused (a cascade that could not escalate, a council cut short)
    held_back: int = 0
    #: USD per model called (answers, escalations, reviews, judges, failed attempts)
    spend: dict[str, float] = field(default_factory=dict)
    #: tokens of the answer that was kept (for the "all on the top model" counterfactual)
    answer_tokens: tuple[int, int] = (0, 0)


Handler = Callable[["Engine", ItemWork, "SecretScrubber"], Awaitable[ItemOutcome]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One batchable endpoint: ``run`` executes an item on an engine."""

    url: str
    run: Handler
    kind: str  # "chat" | "embeddings" | …: how the runner estimates an item's worst-case cost


ENDPOINTS: dict[str, Endpoint] = {}


def register_endpoint(endpoint: Endpoint) -> None:
    """Add (or replace) the handler for ``endpoint.url``."""
    ENDPOINTS[endpoint.url] = endpoint


async def run_item(engine: Engine, work: ItemWork, redact: SecretScrubber) -> ItemOutcome:
    """Run one item through ``engine``; never raises for a request's own failure."""
    endpoint = ENDPOINTS.get(work.url)
    if endpoint is None:  # read_items validates urls; this guards direct callers
        return ItemOutcome(work.custom_id, False, 0, "", None, 0.0, 0.0, error_code="invalid_url",
                           error_message=f"url {work.url!r} is not served")
    return await endpoint.run(engine, work, redact)


# -- shared --------------------------------------------------------------------


def _prepare(engine: Engine, work: ItemWork) -> dict[str, Any]:
    """A copy of the body with hints taken off it, the model defaulted or overridden, the cap set."""
    body = dict(work.body)
    hints = routing_hints((), body, tenant=None)
    if work.route is not None:
        body["model"] = work.route
    elif not body.get("model"):
        body["model"] = engine.config.gateway.default_model
    if work.reserve_usd is not None:
        cap = work.reserve_usd if hints.max_cost_usd is None else min(hints.max_cost_usd, work.reserve_usd)
        hints = hints.model_copy(update={"max_cost_usd": cap})
    body["hints"] = hints
    return body


def _from_trace(out: ItemOutcome, trace: RequestTrace, work: ItemWork) -> ItemOutcome:
    out.cost_usd = trace.cost_usd
    out.attempts = len(trace.attempts)
    usage = trace.usage
    out.input_tokens, out.output_tokens = usage.input_tokens, usage.output_tokens
    out.escalations = sum(1 for e in trace.events if e.kind == "escalation")
    out.fallbacks = sum(1 for e in trace.events if e.kind.startswith("fallback"))
    out.held_back = sum(1 for e in trace.events if e.kind == "budget")
    for a in trace.attempts:
        out.spend[a.model] = out.spend.get(a.model, 0.0) + a.cost_usd
    for a in reversed(trace.attempts):
        if a.status == "ok" and a.model == trace.answered_by:
            out.answer_tokens = (a.usage.input_tokens, a.usage.output_tokens)
            break
    out.downgraded = work.route is not None
    return out


def _failure(work: ItemWork, exc: ModelyardError, redact: SecretScrubber, trace: RequestTrace | None,
             started: float) -> ItemOutcome:
    status, body, _ = describe(exc, redact)
    out = ItemOutcome(
        work.custom_id, False, status, trace.request_id if trace else "", body, 0.0,
        (time.perf_counter() - started) * 1000.0, error_code=str(body["error"].get("code") or body["error"]["type"]),
        error_message=str(body["error"]["message"]),
    )
    if trace is not None:
        _from_trace(out, trace, work)
        out.model = trace.answered_by
    return out


# -- chat ----------------------------------------------------------------------


async def _chat(engine: Engine, work: ItemWork, redact: SecretScrubber) -> ItemOutcome:
    started = time.perf_counter()
    trace: RequestTrace | None = None
    try:
        body = _prepare(engine, work)
        if body.get("n") not in (None, 1):
            raise RequestError("only n=1 is supported", param="n", code="unsupported_value")
        try:
            chat = ChatRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid_body(exc) from None
        trace = engine.new_trace(chat)
        done = await engine.chat(chat, trace=trace)
    except ModelyardError as exc:
        return _failure(work, exc, redact, trace, started)
    response, decision = done.response, done.decision
    family = decision.family or response.family
    ext = extension(decision, trace, model=response.model, family=family.value if family else None,
                    simulated=response.simulated)
    latency = (time.perf_counter() - started) * 1000.0
    if trace.status == "safe_default":  # an apology is not content: the item failed, say why
        out = ItemOutcome(work.custom_id, False, 0, trace.request_id, None, 0.0, latency,
                          error_code="safe_default", error_message=redact(trace.error or "no model could answer"))
        return _from_trace(out, trace, work)
    out = ItemOutcome(
        work.custom_id, True, 200, trace.request_id, completion_body(response, ext), 0.0, latency,
        model=response.model, family=family.value if family else None, route=route_of(decision),
        simulated=response.simulated,
    )
    return _from_trace(out, trace, work)


# -- embeddings ------------------------------------------------------------------


def _texts(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return raw
    raise RequestError("input must be a string or a non-empty list of strings", param="input", code="invalid_value")


async def _embeddings(engine: Engine, work: ItemWork, redact: SecretScrubber) -> ItemOutcome:
    started = time.perf_counter()
    trace: RequestTrace | None = None
    try:
        body = _prepare(engine, work)
        encoding = body.pop("encoding_format", None) or "float"
        if encoding not in ("float", "base64"):
            raise RequestError("encoding_format must be 'float' or 'base64'", param="encoding_format",
                               code="invalid_value")
        dimensions = body.pop("dimensions", None)
        body["input"] = _texts(body.get("input"))
        try:
            request = EmbeddingRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid_body(exc) from None
        trace = engine.new_trace(request, endpoint="embeddings")
        response, decision, trace = await engine.embed(request, trace=trace)
        if dimensions is not None and response.vectors and dimensions != len(response.vectors[0]):
            raise RequestError(
                f"dimensions={dimensions} is not supported by {response.model!r} "
                f"(it returns {len(response.vectors[0])})", param="dimensions", code="unsupported_value")
    except ModelyardError as exc:
        return _failure(work, exc, redact, trace, started)
    family = decision.family.value if decision.family else None
    ext = extension(decision, trace, model=response.model, family=family, simulated=response.simulated)
    out = ItemOutcome(
        work.custom_id, True, 200, trace.request_id, embedding_body(response, ext, encoding=encoding), 0.0,
        (time.perf_counter() - started) * 1000.0, model=response.model, family=family,
        route=route_of(decision), simulated=response.simulated,
    )
    return _from_trace(out, trace, work)


register_endpoint(Endpoint("/v1/chat/completions", _chat, "chat"))
register_endpoint(Endpoint("/v1/embeddings", _embeddings, "embeddings"))
