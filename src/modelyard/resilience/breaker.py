"""Circuit breakers per model endpoint.

The state machine is a pure function over a small JSON-able record (`admit`,
`record`), so the in-process and the Redis backend run the very same code, and
hypothesis can test it against a reference model with a fake clock.

    closed ──(N consecutive failures, or failure rate ≥ r over the window
              after ≥ min_calls)──▶ open
    open ──(cool-down elapsed; next call becomes a probe)──▶ half_open
    half_open ──(all probes succeed)──▶ closed
    half_open ──(a probe fails)──▶ open

Each record carries a generation number bumped on every transition; an
outcome reported for a call admitted under an older generation is ignored, so
a slow call that started before the breaker opened cannot close it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from modelyard.config.resilience import BreakerSettings, ResilienceSettings
from modelyard.errors import ErrorKind, UpstreamServerError
from modelyard.resilience.state.base import StateBackend

__all__ = [
    "Admission",
    "Breaker",
    "BreakerBoard",
    "CircuitOpenError",
    "Outcome",
    "Transition",
    "admit",
    "record",
]

log = logging.getLogger("modelyard.resilience")

State = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "neutral"]
_BUCKETS = 10


class CircuitOpenError(UpstreamServerError):
    """The model's breaker is open: the call was not made. ``kind`` is ``server``, so it falls back."""

    status_code = 503

    def __init__(self, message: str, *, model: str, retry_after: float | None = None) -> None:
        super().__init__(message, model=model, provider="modelyard")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Transition:
    model: str
    old: State
    new: State
    reason: str
    at: float


@dataclass(frozen=True)
class Admission:
    allowed: bool
    state: State
    generation: int
    retry_in: float = 0.0
    probe: bool = False


def _fresh(now: float) -> dict[str, Any]:
    return {
        "state": "closed",
        "gen": 0,
        "consec": 0,
        "opened_at": 0.0,
        "since": now,
        "probes": 0,
        "probe_ok": 0,
        "buckets": [],
        "reason": "",
    }


def _move(rec: dict[str, Any], new: State, reason: str, now: float) -> Transition:
    old: State = rec["state"]
    rec.update(state=new, gen=rec["gen"] + 1, since=now, probes=0, probe_ok=0, reason=reason)
    if new == "open":
        rec["opened_at"] = now
    if new == "closed":
        rec.update(consec=0, buckets=[])
    return Transition("", old, new, reason, now)


def admit(
    old: dict[str, Any] | None, cfg: BreakerSettings, now: float
) -> tuple[dict[str, Any], tuple[Admission, Transition | None]]:
    """May a call start now? Moves open → half_open once the cool-down has passed."""
    rec = dict(old) if old is not None else _fresh(now)
    moved: Transition | None = None
    if rec["state"] == "open":
        if now - rec["opened_at"] < cfg.cooldown_s:
            wait = rec["opened_at"] + cfg.cooldown_s - now
            return rec, (Admission(False, "open", rec["gen"], retry_in=wait), None)
        moved = _move(rec, "half_open", f"cool-down of {cfg.cooldown_s:g}s elapsed", now)
    if rec["state"] == "half_open":
        if rec["probes"] >= cfg.half_open_probes and now - rec["since"] >= cfg.cooldown_s:
            rec.update(probes=0, since=now)  # probes never reported back (cancelled, crashed): retry them
        if rec["probes"] >= cfg.half_open_probes:
            return rec, (Admission(False, "half_open", rec["gen"], retry_in=cfg.cooldown_s), moved)
        rec["probes"] += 1
        return rec, (Admission(True, "half_open", rec["gen"], probe=True), moved)
    return rec, (Admission(True, "closed", rec["gen"]), moved)


def record(
    old: dict[str, Any] | None, cfg: BreakerSettings, now: float, outcome: Outcome, generation: int
) -> tuple[dict[str, Any], Transition | None]:
    """Report how an admitted call ended; may open or close the breaker."""
    rec = dict(old) if old is not None else _fresh(now)
    if rec["gen"] != generation or rec["state"] == "open":
        return rec, None
    if rec["state"] == "half_open":
        if outcome == "failure":
            return rec, _move(rec, "open", "a half-open probe failed", now)
        if outcome == "neutral":
            rec["probes"] = max(0, rec["probes"] - 1)
            return rec, None
        rec["probe_ok"] += 1
        if rec["probe_ok"] >= cfg.half_open_probes:
            return rec, _move(rec, "closed", f"{rec['probe_ok']} probe(s) succeeded", now)
        return rec, None
    if outcome == "neutral":
        return rec, None
    width = cfg.window_s / _BUCKETS
    idx = math.floor(now / width)
    buckets = [list(b) for b in rec["buckets"] if b[0] > idx - _BUCKETS]
    if not buckets or buckets[-1][0] != idx:
        buckets.append([idx, 0, 0])
    buckets[-1][1 if outcome == "success" else 2] += 1
    rec["buckets"] = buckets
    rec["consec"] = rec["consec"] + 1 if outcome == "failure" else 0
    if rec["consec"] >= cfg.failure_threshold:
        return rec, _move(rec, "open", f"{rec['consec']} consecutive failures", now)
    calls = sum(b[1] + b[2] for b in buckets)
    failures = sum(b[2] for b in buckets)
    if outcome == "failure" and calls >= cfg.min_calls and failures / calls >= cfg.failure_rate:
        reason = f"failure rate {failures}/{calls} ≥ {cfg.failure_rate:g} over {cfg.window_s:g}s"
        return rec, _move(rec, "open", reason, now)
    return rec, None


class Breaker:
    """One model's breaker over a state backend."""

    def __init__(
        self,
        model: str,
        cfg: BreakerSettings,
        state: StateBackend,
        *,
        clock: Callable[[], float] = time.time,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.key = f"breaker:{model}"
        self._state = state
        self._clock = clock
        self._on_transition = on_transition
        self._ttl = int(max(cfg.window_s, cfg.cooldown_s) * 4) + 60
        self.snapshot: dict[str, Any] | None = None

    def outcome_of(self, kind: ErrorKind | None) -> Outcome:
        if kind is None:
            return "success"
        return "failure" if kind in self.cfg.failure_on else "neutral"

    async def admit(self) -> Admission:
        if not self.cfg.enabled:
            return Admission(True, "closed", -1)
        now = self._clock()
        cfg = self.cfg

        def step(old: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[dict[str, Any], Admission, Any]]:
            new, (adm, moved) = admit(old, cfg, now)
            return new, (new, adm, moved)

        self.snapshot, adm, moved = await self._state.update_json(self.key, step, self._ttl)
        self._announce(moved)
        return adm

    async def record(self, outcome: Outcome, admission: Admission) -> Transition | None:
        if not self.cfg.enabled:
            return None
        now = self._clock()
        cfg = self.cfg

        def step(old: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[dict[str, Any], Any]]:
            new, moved = record(old, cfg, now, outcome, admission.generation)
            return new, (new, moved)

        self.snapshot, moved = await self._state.update_json(self.key, step, self._ttl)
        return self._announce(moved)

    def _announce(self, moved: Transition | None) -> Transition | None:
        if moved is None:
            return None
        moved = Transition(self.model, moved.old, moved.new, moved.reason, moved.at)
        log.warning(
            "breaker %s: %s → %s (%s)",
            self.model,
            moved.old,
            moved.new,
            moved.reason,
            extra={"event": "breaker_transition", "model": self.model, "from": moved.old, "to": moved.new},
        )
        if self._on_transition is not None:
            self._on_transition(moved)
        return moved

    @property
    def state(self) -> State:
        return "closed" if self.snapshot is None else self.snapshot["state"]  # type: ignore[no-any-return]

    def unavailable_reason(self) -> str | None:
        """From the last known record (sync, for routers): open and cooling down, or probes all taken."""
        left = self.retry_in()
        if left is None:
            return None
        rec = self.snapshot
        assert rec is not None
        if rec["state"] == "open":
            return f"circuit breaker open ({rec['reason']}); probe in {left:.1f}s"
        return "circuit breaker half-open; probe in flight"

    def retry_in(self) -> float | None:
        """Seconds until the breaker admits a call again (from the last known record); None if it does now."""
        rec = self.snapshot
        if rec is None or not self.cfg.enabled:
            return None
        now = self._clock()
        if rec["state"] == "open" and now - rec["opened_at"] < self.cfg.cooldown_s:
            return float(rec["opened_at"] + self.cfg.cooldown_s - now)
        probes_taken = rec["state"] == "half_open" and rec["probes"] >= self.cfg.half_open_probes
        if probes_taken and now - rec["since"] < self.cfg.cooldown_s:
            return float(rec["since"] + self.cfg.cooldown_s - now)  # a stuck probe is retried then
        return None


class BreakerBoard:
    """Every model's breaker, the transition log and a throttled refresh of the shared view."""

    def __init__(
        self,
        settings: ResilienceSettings,
        models: Iterable[str],
        state: StateBackend,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._clock = clock
        self.transitions: Counter[tuple[str, str, str]] = Counter()
        self.breakers = {
            m: Breaker(m, settings.breaker_for(m), state, clock=clock, on_transition=self._count)
            for m in models
        }
        self._refreshed = -math.inf
        self._refresh_s = settings.state.refresh_ms / 1000.0

    def _count(self, t: Transition) -> None:
        self.transitions[(t.model, t.old, t.new)] += 1

    def __getitem__(self, model: str) -> Breaker:
        return self.breakers[model]

    async def refresh(self, *, force: bool = False) -> None:
        """Pull the shared records (one MGET) at most every ``state.refresh_ms``."""
        now = time.monotonic()
        if not force and now - self._refreshed < self._refresh_s:
            return
        self._refreshed = now
        names = list(self.breakers)
        records = await self._state.read_json([self.breakers[n].key for n in names])
        for name, rec in zip(names, records, strict=True):
            self.breakers[name].snapshot = rec

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}
