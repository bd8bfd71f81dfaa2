"""``kind: llm`` — ask a registry model to grade the answer.

The grader is any model (or family) in the registry, called through
``ctx.call(..., purpose="judge")`` so its cost lands on the request's trace.
It is asked for ``{"score": <0..1>, "reason": "..."}``; real models wrap that
in code fences, prose, or answer "Score: 7/10", so parsing tries, in order:
a JSON object anywhere in the text, then a ``score/rating: N[/M|%]`` line.
Scores above 1 are read as out of 10 or 100. When nothing parses, or the
grader call fails, the verdict is score 0 with the reason recorded
(``details.parse_error`` / ``details.call_error``), never an exception: an
unreadable grade must not accept an answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelyard.config.routers.judge_specs import LLMJudgeSpec
from modelyard.errors import ModelyardError
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Verdict
from modelyard.types import ChatRequest, ChatResponse, Family, Message, Target

__all__ = ["DEFAULT_INSTRUCTIONS", "LLMJudge", "parse_grade"]

DEFAULT_INSTRUCTIONS = (
    "You are a strict grader. Judge whether the answer correctly and completely answers the "
    "question. Reply with only a JSON object: "
    '{"score": <number from 0 to 1>, "reason": "<one short sentence>"}.'
)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_SCORE_LINE = re.compile(
    r"(?:score|rating|grade)\**\s*(?:is|of|[:=])?\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:(/)\s*(\d+(?:\.\d+)?)|(%))?",
    re.IGNORECASE,
)


def _scale(value: float, denominator: float | None = None, percent: bool = False) -> float | None:
    if percent:
        value /= 100.0
    elif denominator:
        value /= denominator
    elif 1.0 < value <= 10.0:
        value /= 10.0
    elif 10.0 < value <= 100.0:
        value /= 100.0
    return value if 0.0 <= value <= 1.0 else None


def _score_of(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return _scale(float(raw))
    if isinstance(raw, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:(/)\s*(\d+(?:\.\d+)?)|(%))?\s*", raw)
        if match:
            return _scale(
                float(match.group(1)), float(match.group(3)) if match.group(2) else None, bool(match.group(4))
            )
    return None


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text``, fenced blocks first."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    for chunk in [*_FENCE.findall(text), text]:
        for start in (i for i, ch in enumerate(chunk) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                found.append(obj)
    return found


def parse_grade(text: str) -> tuple[float, str] | None:
    """(score in [0, 1], reason) from a grader's reply, or None if there is no usable score."""
    for obj in _json_objects(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        raw = next((lowered[k] for k in ("score", "rating", "grade", "confidence") if k in lowered), None)
        score = _score_of(raw)
        if score is not None:
            reason = lowered.get("reason") or lowered.get("explanation") or lowered.get("rationale") or ""
            return score, str(reason)
    for match in _SCORE_LINE.finditer(text):
        score = _scale(
            float(match.group(1)), float(match.group(3)) if match.group(2) else None, bool(match.group(4))
        )
        if score is not None:
            reason = text[match.end() :].strip(" \t\n-–—:.*").split("\n", 1)[0]
            return score, reason or text[: match.start()].strip()[-200:]
    return None


class LLMJudge:
    kind = "llm"

    def __init__(self, spec: LLMJudgeSpec) -> None:
        self.spec = spec
        self.target = Target.parse(spec.model)

    @classmethod
    def from_spec(cls, spec: LLMJudgeSpec, build: BuildContext) -> LLMJudge:
        return cls(spec)

    def _model(self, request: ChatRequest, ctx: RouteContext) -> str:
        if self.target.kind == "family":
            return ctx.select(Family(self.target.name), request).model.name
        return self.target.name

    def grading_request(self, request: ChatRequest, answer: ChatResponse) -> ChatRequest:
        cap = self.spec.max_chars
        question = request.last_user_text[:cap]
        context = request.system_text[:cap]
        body = (f"Instructions the answer had to follow:\n{context}\n\n" if context else "") + (
            f"Question:\n{question}\n\nAnswer to grade:\n{answer.text[:cap]}"
        )
        return ChatRequest(
            model=self.spec.model,
            messages=[
                Message(role="system", content=self.spec.instructions or DEFAULT_INSTRUCTIONS),
                Message(role="user", content=body),
            ],
            temperature=0.0,
            max_tokens=self.spec.max_tokens,
            hints=request.hints,
        )

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        source = f"{self.kind}:{self.spec.model}"
        if ctx.call is None:
            return Verdict(0.0, None, "no model call path in this context", source, {"call_error": True})
        try:
            model = self._model(request, ctx)
            reply = await ctx.call(model, self.grading_request(request, answer), purpose="judge")
        except ModelyardError as exc:
            return Verdict(0.0, None, f"judge call failed: {exc}", source, {"call_error": True})
        parsed = parse_grade(reply.text)
        if parsed is None:
            excerpt = " ".join(reply.text.split())[:160]
            return Verdict(
                0.0,
                None,
                f"could not parse a score from the judge: {excerpt!r}",
                source,
                {"parse_error": True},
            )
        score, reason = parsed
        return Verdict(score, None, reason or "no reason given", source, {"judge_model": model})
