"""``/v1/images/generations`` as a batch endpoint: the same body and answer as the gateway's.

The body is an OpenAI Images API generation (``prompt``, ``n``, ``size``,
``response_format``, …); it becomes a `ChatRequest` with an ``image_task`` and
runs through the engine like any other item (routers see
``is_generative_image``). The answer is the gateway's ``{"created", "data",
"modelyard"}`` body.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from modelyard.batch.dispatch import Endpoint, ItemOutcome, ItemWork, _failure, _from_trace, register_endpoint
from modelyard.errors import ModelyardError, UpstreamServerError
from modelyard.server.hints import routing_hints
from modelyard.server.image_bodies import generation_data, parse_generation_body
from modelyard.server.shapes import extension, route_of
from modelyard.types import ChatRequest, GenerationTask, Message, RequestTrace

if TYPE_CHECKING:
    from modelyard.engine import Engine
    from modelyard.secrets import SecretScrubber

__all__ = ["URL", "generation_request"]

URL = "/v1/images/generations"


def generation_request(body: dict[str, Any], *, route: str | None = None, cap: float | None = None) -> ChatRequest:
    """The engine request for an Images API body; `RequestError` naming the bad field."""
    body = dict(body)  # routing_hints pops the hint keys; the item's body stays as it was
    hints = routing_hints((), body, tenant=None)
    model, task = parse_generation_body(body)
    update: dict[str, Any] = {"is_generative_image": True}
    if cap is not None:
        update["max_cost_usd"] = cap if hints.max_cost_usd is None else min(cap, hints.max_cost_usd)
    return ChatRequest(model=route or model or "lcm", messages=[Message(role="user", content=task.prompt)],
                       image_task=task, hints=hints.model_copy(update=update))


async def _generate(engine: Engine, work: ItemWork, redact: SecretScrubber) -> ItemOutcome:
    started = time.perf_counter()
    trace: RequestTrace | None = None
    try:
        chat = generation_request(work.body, route=work.route, cap=work.reserve_usd)
        trace = engine.new_trace(chat, endpoint="images")
        done = await engine.chat(chat, trace=trace)
        images = [i for i in done.response.images if i.kind == "image"]
        if trace.status != "safe_default" and not images:
            raise UpstreamServerError(f"{done.response.model!r} answered without an image: {done.response.text[:200]}")
    except ModelyardError as exc:
        return _failure(work, exc, redact, trace, started)
    latency = (time.perf_counter() - started) * 1000.0
    if trace.status == "safe_default":
        out = ItemOutcome(work.custom_id, False, 0, trace.request_id, None, 0.0, latency, error_code="safe_default",
                          error_message=redact(trace.error or "no model could answer"))
        return _from_trace(out, trace, work)
    response, decision = done.response, done.decision
    task = chat.image_task
    assert isinstance(task, GenerationTask)
    family = decision.family or response.family
    ext = extension(decision, trace, model=response.model, family=family.value if family else None,
                    simulated=response.simulated)
    body = {"created": int(time.time()), "data": generation_data(images, task), "modelyard": ext}
    out = ItemOutcome(work.custom_id, True, 200, trace.request_id, body, 0.0, latency,
                      model=response.model, family=family.value if family else None, route=route_of(decision),
                      simulated=response.simulated)
    return _from_trace(out, trace, work)


register_endpoint(Endpoint(URL, _generate, "images"))
