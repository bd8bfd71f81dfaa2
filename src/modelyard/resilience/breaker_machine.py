"""The circuit breaker's state machine: pure functions over a small JSON-able record.

`admit` and `record` take the record as found and return the record to store,
so the in-process and the Redis backend run the very same code, and hypothesis
can test it against a reference model with a fake clock. `merge_successes`
adds a batch of successes counted in one process (Redis write-behind, see
`modelyard.resilience.breaker`) with the same effect as recording them one by one.

    closed ──(N consecutive failures, or failure rate ≥ r over the window
              after ≥ min_calls)──▶ open
    open ──(cool-down elapsed; next call becomes a probe)──▶ half_open
    half_open ──(all probes succeed)──▶ closed
    half_open ──(a probe fails)──▶ open

Each record carries a generation number bumped on every transition; an
outcome reported for a call admitted under an older generation is ignored, so
a slow call that started before the breaker opened cannot close it.

The record (times are the callers' clock, seconds)::

    state      "closed" | "open" | "half_open"
    gen        transitions so far
    consec     failures in a row while closed (= len(run))
    run        times of those failures (so successes reported late end only the failures before them)
    opened_at  when it last opened
    since      when the current state (or half-open probe period) began
    probes, probe_ok   probes out and succeeded in this half-open period
    buckets    [[slot, successes, failures], ...], ascending; slot = floor(time / (window_s / 10))
    reason     why the last transition happened
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from modelyard.config.resilience import BreakerSettings

__all__ = [
    "Admission",
    "Outcome",
    "State",
    "SuccessBatch",
    "Transition",
    "admit",
    "merge_successes",
    "record",
    "slot_of",
]

State = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "neutral"]
_BUCKETS = 10


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


@dataclass
class SuccessBatch:
    """Successes of calls admitted under generation ``gen``, not yet in the shared record.

    ``slots`` counts them per window slot (`slot_of`); ``last_at`` is the time of the latest.
    """

    gen: int
    slots: dict[int, int] = field(default_factory=dict)
    last_at: float = -math.inf
    count: int = 0

    def add(self, slot: int, at: float) -> None:
        self.slots[slot] = self.slots.get(slot, 0) + 1
        self.last_at = max(self.last_at, at)
        self.count += 1

    def absorb(self, other: SuccessBatch) -> None:
        """Take ``other``'s successes in (same generation; a batch put back after a failed write)."""
        for slot, n in other.slots.items():
            self.slots[slot] = self.slots.get(slot, 0) + n
        self.last_at = max(self.last_at, other.last_at)
        self.count += other.count


def slot_of(cfg: BreakerSettings, at: float) -> int:
    """The window slot (one tenth of ``window_s``) that time ``at`` falls in."""
    return math.floor(at / (cfg.window_s / _BUCKETS))


def _fresh(now: float) -> dict[str, Any]:
    return {
        "state": "closed",
        "gen": 0,
        "consec": 0,
        "run": [],
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
        rec.update(consec=0, run=[], buckets=[])
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


def _window(rec: dict[str, Any], now_slot: int) -> list[list[int]]:
    return [list(b) for b in rec["buckets"] if b[0] > now_slot - _BUCKETS]


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
    idx = slot_of(cfg, now)
    buckets = _window(rec, idx)
    if not buckets or buckets[-1][0] != idx:
        buckets.append([idx, 0, 0])
    buckets[-1][1 if outcome == "success" else 2] += 1
    rec["buckets"] = buckets
    if outcome == "failure":
        rec["run"] = [*rec.get("run", ()), now][-cfg.failure_threshold :]
        rec["consec"] = rec["consec"] + 1
    else:
        rec.update(run=[], consec=0)
    if rec["consec"] >= cfg.failure_threshold:
        return rec, _move(rec, "open", f"{rec['consec']} consecutive failures", now)
    calls = sum(b[1] + b[2] for b in buckets)
    failures = sum(b[2] for b in buckets)
    if outcome == "failure" and calls >= cfg.min_calls and failures / calls >= cfg.failure_rate:
        reason = f"failure rate {failures}/{calls} ≥ {cfg.failure_rate:g} over {cfg.window_s:g}s"
        return rec, _move(rec, "open", reason, now)
    return rec, None


def merge_successes(
    old: dict[str, Any] | None, cfg: BreakerSettings, now: float, batch: SuccessBatch
) -> dict[str, Any]:
    """Add a batch of closed-state successes as if each had been `record`-ed at its own time.

    Ignored (like a stale outcome) unless the record is still closed under ``batch.gen``. Each
    success lands in its window slot (slots already out of the window at ``now`` are dropped, as
    `record` would drop them), and the run of consecutive failures keeps only the failures *after*
    the batch's latest success: a success that happened before a failure — counted in another
    process and published later — does not end the run that failure belongs to. Never a transition:
    successes while closed cannot open or close a breaker.
    """
    rec = dict(old) if old is not None else _fresh(now)
    if rec["gen"] != batch.gen or rec["state"] != "closed" or not batch.count:
        return rec
    now_slot = slot_of(cfg, now)
    slots = {b[0]: b for b in _window(rec, now_slot)}
    for slot, n in batch.slots.items():
        if slot > now_slot - _BUCKETS:
            slots.setdefault(slot, [slot, 0, 0])[1] += n
    rec["buckets"] = [slots[s] for s in sorted(slots)]
    run = [t for t in rec.get("run", ()) if t > batch.last_at]
    rec.update(run=run, consec=len(run))
    return rec
