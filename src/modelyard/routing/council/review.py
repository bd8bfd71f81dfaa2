"""The adversarial review loop: a writer drafts, reviewers critique at once, the writer revises.

Round after round, every reviewer reads the draft concurrently and ends with
``VERDICT: APPROVE`` or ``VERDICT: REJECT``. The loop ends when a round has at
least ``quorum`` reviews back and all of them approve, or after ``max_rounds``
rounds, or when the deadline is spent. Between rounds the writer revises
against every critique it received. A reviewer that fails or times out is
recorded in its round and simply does not vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.routing.base import RouteContext
from modelyard.routing.council.fanout import Member, MemberResult, fan_out
from modelyard.routing.council.verdict import parse_verdict
from modelyard.types import ChatRequest, ChatResponse, Message

__all__ = ["REVIEWER_INSTRUCTIONS", "REVISE_INSTRUCTIONS", "ReviewLoop", "ReviewResult"]

REVIEWER_INSTRUCTIONS = (
    "You are an adversarial reviewer. Check the draft against the original request: find every "
    "factual error, logical gap and unmet requirement, and say precisely what to change. "
    "End with exactly one line: VERDICT: APPROVE or VERDICT: REJECT."
)
REVISE_INSTRUCTIONS = (
    "Reviewers critiqued your previous answer (above). Revise it to address every valid point. "
    "Reply with only the revised answer."
)
_MAX_TEXT = 4000


@dataclass
class ReviewResult:
    draft: ChatResponse
    approved: bool
    stopped: str
    rounds: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReviewLoop:
    writer: Member
    reviewers: Sequence[Member]
    max_rounds: int
    quorum: int
    timeout_s: float | None
    reviewer_instructions: str = REVIEWER_INSTRUCTIONS
    revise_instructions: str = REVISE_INSTRUCTIONS

    async def run(self, request: ChatRequest, ctx: RouteContext) -> ReviewResult:
        assert ctx.call is not None and self.writer.model is not None
        base = request.model_copy(update={"stream": False})
        draft = await ctx.call(self.writer.model, base, purpose="council-write")
        rounds: list[dict[str, Any]] = []
        for number in range(1, self.max_rounds + 1):
            if ctx.deadline.expired:
                return ReviewResult(draft, False, "deadline", rounds)
            results = await fan_out(
                self.reviewers,
                self.review_request(base, draft),
                ctx,
                purpose="review",
                timeout_s=self.timeout_s,
            )
            record = self._record(number, draft, results)
            rounds.append(record)
            if record["approved"]:
                return ReviewResult(draft, True, "approved", rounds)
            if number == self.max_rounds:
                return ReviewResult(draft, False, "max_rounds", rounds)
            critiques = [r for r in results if r.ok]
            if not critiques:
                continue  # nobody answered: review the same draft again
            try:
                draft = await ctx.call(
                    self.writer.model, self.revise_request(base, draft, critiques), purpose="council-revise"
                )
            except ModelyardError as exc:
                record["revision_error"] = f"{type(exc).__name__}: {exc}"[:300]
                return ReviewResult(draft, False, "writer_failed", rounds)
        return ReviewResult(draft, False, "max_rounds", rounds)  # pragma: no cover - loop always returns

    def _record(self, number: int, draft: ChatResponse, results: list[MemberResult]) -> dict[str, Any]:
        reviews = []
        for r in results:
            entry = r.to_dict()
            if r.ok:
                assert r.response is not None
                verdict = parse_verdict(r.response.text)
                entry.update(
                    approved=verdict.approved, verdict=verdict.reason, text=r.response.text[:_MAX_TEXT]
                )
                r.extra["approved"] = verdict.approved
            reviews.append(entry)
        responded = [r for r in results if r.ok]
        approvals = sum(1 for r in responded if r.extra.get("approved"))
        quorum_met = len(responded) >= self.quorum
        return {
            "round": number,
            "draft": draft.text[:_MAX_TEXT],
            "draft_model": draft.model,
            "reviews": reviews,
            "responded": len(responded),
            "approvals": approvals,
            "quorum": self.quorum,
            "quorum_met": quorum_met,
            "approved": quorum_met and approvals == len(responded),
        }

    def review_request(self, request: ChatRequest, draft: ChatResponse) -> ChatRequest:
        context = request.system_text
        body = (f"Instructions the draft had to follow:\n{context}\n\n" if context else "") + (
            f"Original request:\n{request.last_user_text}\n\nDraft to review:\n{draft.text}"
        )
        messages = [
            Message(role="system", content=self.reviewer_instructions),
            Message(role="user", content=body),
        ]
        return request.model_copy(update={"messages": messages, "tools": None, "tool_choice": None})

    def revise_request(
        self, request: ChatRequest, draft: ChatResponse, critiques: list[MemberResult]
    ) -> ChatRequest:
        parts = []
        for r in critiques:
            assert r.response is not None
            label = "APPROVE" if r.extra.get("approved") else "REJECT"
            parts.append(f"Reviewer {r.member.index + 1} ({label}):\n{r.response.text.strip()}")
        feedback = "\n\n".join(parts) + "\n\n" + self.revise_instructions
        messages = [
            *request.messages,
            Message(role="assistant", content=draft.text),
            Message(role="user", content=feedback),
        ]
        return request.with_messages(messages)
