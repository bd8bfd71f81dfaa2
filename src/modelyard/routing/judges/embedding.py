"""``kind: embedding`` — is the answer about the question at all?

Cosine similarity of the question's and the answer's MiniLM sentence vectors,
clipped to [0, 1]. It catches off-topic or boilerplate answers without a model
call (~14 ms a warm call on 2 shared cores; the first call loads the encoder,
~1 s). It cannot tell a right answer from a wrong one on the same topic, so
pair it with a verifier or an LLM judge where that matters.
Encoding runs in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from modelyard.config.routers.judge_specs import EmbeddingJudgeSpec
from modelyard.encoders.base import Encoder
from modelyard.errors import ModelyardError
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Verdict
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["EmbeddingJudge"]


def _default_factory() -> Encoder:
    from modelyard.encoders import default_encoder

    return default_encoder()


class EmbeddingJudge:
    kind = "embedding"

    def __init__(
        self, spec: EmbeddingJudgeSpec, encoder_factory: Callable[[], Encoder] | None = None
    ) -> None:
        self.spec = spec
        self._factory = encoder_factory or _default_factory
        self._encoder: Encoder | None = None

    @classmethod
    def from_spec(cls, spec: EmbeddingJudgeSpec, build: BuildContext) -> EmbeddingJudge:
        return cls(spec, build.encoder_factory)

    def _similarity(self, question: str, answer: str) -> float:
        if self._encoder is None:
            self._encoder = self._factory()
        vectors = np.asarray(self._encoder.encode([question, answer]), dtype=np.float64)
        return float(np.dot(vectors[0], vectors[1]))

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        question = request.last_user_text.strip()[: self.spec.max_chars]
        text = answer.text.strip()[: self.spec.max_chars]
        if not question or not text:
            return Verdict.no_signal("question or answer has no text", self.kind)
        try:
            cosine = await asyncio.to_thread(self._similarity, question, text)
        except ModelyardError as exc:  # encoder weights missing: report, don't fail the request
            return Verdict.no_signal(f"encoder unavailable: {exc}", self.kind)
        return Verdict(max(0.0, cosine), None, f"question/answer cosine {cosine:.3f}", self.kind)
