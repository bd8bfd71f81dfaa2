"""A `CallPath` that tags every attempt with the stage that made it (``stage:NAME`` / ``stage:NAME/purpose``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from modelyard.providers.calls import CallPath
from modelyard.types import ChatRequest, ChatResponse, Deadline, EmbeddingResponse, RequestTrace, StreamChunk

__all__ = ["StageCalls", "stage_purpose"]


def stage_purpose(stage: str, purpose: str = "answer") -> str:
    return f"stage:{stage}" if purpose == "answer" else f"stage:{stage}/{purpose}"


class StageCalls:
    """Wraps the engine's call path; the request's one trace receives every attempt, tagged."""

    def __init__(self, inner: CallPath, stage: str) -> None:
        self.inner = inner
        self.stage = stage

    async def chat(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> ChatResponse:
        return await self.inner.chat(
            model, request, trace=trace, deadline=deadline, purpose=stage_purpose(self.stage, purpose)
        )

    def stream(
        self, model: str, request: ChatRequest, *, trace: RequestTrace, deadline: Deadline, purpose: str = "answer"
    ) -> AsyncIterator[StreamChunk]:
        return self.inner.stream(
            model, request, trace=trace, deadline=deadline, purpose=stage_purpose(self.stage, purpose)
        )

    async def embed(
        self, model: str, texts: list[str], *, trace: RequestTrace, deadline: Deadline
    ) -> EmbeddingResponse:
        child = trace.model_copy(update={"attempts": [], "events": [], "details": {}, "quality": {}})
        try:
            return await self.inner.embed(model, texts, trace=child, deadline=deadline)
        finally:
            for attempt in child.attempts:
                attempt.purpose = stage_purpose(self.stage, "embed")
            trace.attempts.extend(child.attempts)
            trace.events.extend(child.events)
