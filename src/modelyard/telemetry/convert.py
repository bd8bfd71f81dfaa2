"""Trace → `Record`: the one place that decides what a record keeps.

Runs on the request path (inside the listener), so it only copies and
counts. Text never comes from the trace: router details that carry model
output (council drafts, reviews, vote keys) are stripped unless text capture
is on, and every free-text string passes the secret scrubber.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelyard.config.models import ModelSpec
from modelyard.telemetry.record import AttemptRecord, EventRecord, Record, Rejected
from modelyard.types import RequestTrace

__all__ = ["TEXT_KEYS", "record_from_trace", "strip_text"]

Scrub = Callable[[str], str]

#: keys in router details whose values are prompt or model text
TEXT_KEYS = frozenset(
    {"draft", "text", "winner", "vote", "answer", "content", "prompt", "response", "messages", "critique"}
)
_MAX_STR = 300


def strip_text(value: Any, scrub: Scrub, *, keep_text: bool) -> Any:
    """A JSON-safe copy of router details without text-bearing keys (unless ``keep_text``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if key == "attempts":  # duplicated in the record's own attempt list
                continue
            if not keep_text and key in TEXT_KEYS:
                continue
            if not keep_text and key == "votes" and isinstance(v, Mapping):
                out["votes"] = sorted(
                    (len(b) if isinstance(b, list) else 0 for b in v.values()), reverse=True
                )
                continue
            out[key] = strip_text(v, scrub, keep_text=keep_text)
        return out
    if isinstance(value, list | tuple):
        return [strip_text(v, scrub, keep_text=keep_text) for v in value]
    if isinstance(value, str):
        return scrub(value if keep_text else value[:_MAX_STR])
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value)[:_MAX_STR])


def record_from_trace(
    trace: RequestTrace,
    models: Mapping[str, ModelSpec],
    scrub: Scrub,
    *,
    keep_text: bool = False,
) -> Record:
    decision = trace.decision
    answered = trace.answered_by or (decision.model if decision else None)
    spec = models.get(answered) if answered else None
    attempts = [
        AttemptRecord(
            model=a.model,
            provider=a.provider,
            status=a.status,
            purpose=a.purpose,
            error_kind=a.error_kind,
            error=scrub(a.error) if a.error else None,
            latency_ms=a.latency_ms,
            input_tokens=a.usage.input_tokens,
            output_tokens=a.usage.output_tokens,
            cost_usd=a.cost_usd,
            simulated=a.simulated,
            choice=a.choice,
        )
        for a in trace.attempts
    ]
    events = [
        EventRecord(
            kind=e.kind,
            detail=scrub(e.detail),
            at_ms=e.at_ms,
            data=strip_text(e.data, scrub, keep_text=keep_text),
        )
        for e in trace.events
    ]
    kinds = [e.kind for e in trace.events]
    cascade = trace.details.get("cascade")
    council = trace.details.get("council")
    quality = dict(trace.quality)
    source = None
    if cascade is not None and "judge_score" in quality:
        source = "cascade judge"
    if isinstance(council, Mapping) and "passed" in council:
        quality.setdefault("council_passed", 1.0 if council["passed"] else 0.0)
        source = source or f"council {council.get('strategy', '')}".strip()
    provider = (
        spec.provider if spec else next((a.provider for a in reversed(attempts) if a.status == "ok"), None)
    )
    usage = trace.usage
    return Record(
        request_id=trace.request_id,
        time=trace.started,
        tenant=trace.tenant,
        endpoint=trace.endpoint,
        stream=trace.stream,
        n=trace.n,
        requested=trace.requested_model,
        status=trace.status,
        error_kind=trace.error_kind,
        error=scrub(trace.error) if trace.error else None,
        router=decision.router if decision else None,
        route=list(decision.path) if decision else [],
        reason=scrub(decision.reason) if decision else "",
        confidence=decision.confidence if decision else None,
        rejected=[
            Rejected(name=c.name, reason=scrub(c.reason)) for c in decision.candidates if not c.accepted
        ]
        if decision
        else [],
        model=answered,
        family=(
            spec.family.value if spec else (decision.family.value if decision and decision.family else None)
        ),
        provider=provider,
        privacy_tier=spec.privacy.value if spec else None,
        simulated=any(a.simulated for a in trace.attempts) or bool(spec and spec.simulated),
        attempts=attempts,
        events=events,
        fallbacks=kinds.count("fallback"),
        escalations=kinds.count("escalation"),
        retries=kinds.count("retry"),
        cascade=strip_text(cascade, scrub, keep_text=keep_text) if cascade is not None else None,
        council=strip_text(council, scrub, keep_text=keep_text) if council is not None else None,
        latency_ms=trace.latency_ms or 0.0,
        ttft_ms=trace.ttft_ms,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=trace.cost_usd,
        quality=quality,
        quality_source=source,
    )
