"""Scripted misbehaviour for the loopback upstream.

A `Fault` says what to do to matching requests (wait, fail with a status,
send broken JSON, reset the connection, drop a stream half-way …) and for how
many of them. A `FaultPlan` holds faults in two tiers: counted faults form a
queue consumed in order (``Fault(status=503, times=2)`` then recovery), and
faults with ``times=None`` are standing rules checked after the queue.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["Fault", "FaultPlan"]


@dataclass(frozen=True)
class Fault:
    """One scripted behaviour. Unset fields mean "behave normally"."""

    #: substring a request path must contain ("/v1/messages", ":streamGenerate"); None matches all
    path: str | None = None
    #: how many matching requests this applies to; None means every one (a standing rule)
    times: int | None = 1
    #: chance a matching request is affected (seeded by the plan, so runs repeat)
    probability: float = 1.0
    #: wait before the response headers
    latency_ms: float = 0.0
    #: answer with this status and the protocol's own error body
    status: int | None = None
    #: the upstream's error message (default: a generic one per status)
    message: str | None = None
    #: OpenAI ``error.code`` / Anthropic ``error.type`` / Gemini ``error.status`` override
    code: str | None = None
    #: raw body to send instead of the protocol's (a dict is sent as JSON)
    body: bytes | str | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: ``Retry-After`` value: seconds, or an HTTP-date string
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    #: answer 200 with a body (or stream event) that is not valid JSON
    malformed_json: bool = False
    #: close the socket with a TCP reset before any response
    connection_reset: bool = False
    #: close the connection after this many stream events, without ending the stream
    drop_mid_stream: int | None = None
    #: send the protocol's in-stream error event after this many events, then end the stream
    #: (its HTTP-like status is ``status_mid_stream``; 529 is Anthropic's "overloaded")
    error_mid_stream: int | None = None
    status_mid_stream: int = 529
    #: for streams, wait after the headers before the first event
    slow_first_byte_ms: float = 0.0
    #: wait between stream events
    chunk_delay_ms: float = 0.0
    #: answer as if the content policy withheld it (finish_reason content_filter, refusal, SAFETY);
    #: ``"prompt"`` blocks the prompt itself (OpenAI 400 content_filter, Gemini promptFeedback)
    content_filter: bool | Literal["prompt"] = False

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path


class FaultPlan:
    """Thread-safe: tests may script faults while the upstream runs in another thread."""

    def __init__(self, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._queue: list[list[Any]] = []  # [fault, remaining]
        self._rules: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, *faults: Fault) -> FaultPlan:
        """Queue counted faults (in order) and add standing rules (``times=None``)."""
        with self._lock:
            for fault in faults:
                if fault.times is None:
                    self._rules.append(fault)
                elif fault.times > 0:
                    self._queue.append([fault, fault.times])
        return self

    def fail_first(self, n: int, fault: Fault | None = None) -> FaultPlan:
        """The next ``n`` matching requests get ``fault`` (default HTTP 503), then all recover."""
        return self.add(replace(fault or Fault(status=503), times=n))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rules.clear()

    @property
    def pending(self) -> int:
        """Counted fault applications still queued."""
        with self._lock:
            return sum(entry[1] for entry in self._queue)

    def take(self, path: str) -> Fault | None:
        """The fault for a request to ``path``, consuming one use of a counted fault."""
        if not self._queue and not self._rules:
            return None
        with self._lock:
            for entry in self._queue:
                fault: Fault = entry[0]
                if fault.matches(path) and self._roll(fault):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._queue.remove(entry)
                    return fault
            for fault in self._rules:
                if fault.matches(path) and self._roll(fault):
                    return fault
        return None

    def _roll(self, fault: Fault) -> bool:
        return fault.probability >= 1.0 or self._rng.random() < fault.probability
