"""Breaker state machine: property tests against a reference written from the state diagram; logs; the shared view."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.config.resilience import BreakerSettings
from modelyard.resilience.breaker import Breaker, admit, record
from modelyard.resilience.state import MemoryState


class DiagramBreaker:
    """The breaker as its state diagram and settings describe it — written from the documents
    (breaker.py's module docstring, `BreakerSettings`), not from the code, and kept in a different
    shape: a list of timestamped outcomes and named counters instead of a record of buckets.

    closed     every call is admitted. It opens after ``failure_threshold`` failures in a row, or
               when a failure brings the failure share of the calls seen within the window to
               ``failure_rate`` or more, once at least ``min_calls`` were seen. A success ends a
               run of failures; a neutral outcome (not the model's fault) counts for nothing.
    open       nothing is admitted until ``cooldown_s`` after opening; then the next call is
               admitted as a probe and the breaker is half-open.
    half_open  at most ``half_open_probes`` probes at a time; one failed probe re-opens it (the
               cool-down restarts); once ``half_open_probes`` probes have succeeded it closes and
               forgets the past. A probe ending neutral frees its slot; when every slot is taken and
               a whole cool-down passes with no answer, the probes are presumed lost and all slots
               are freed.
    Always     an outcome of a call admitted before the latest transition describes an older
               state and is ignored.

    The window is counted in ten slots of ``window_s / 10`` (settings docs), so a call between
    ``window_s − window_s/10`` and ``window_s`` old may or may not still count. Where that edge
    decides whether the breaker opens, `record` returns ``"either"`` and lets the caller accept
    either outcome.
    """

    def __init__(self, cfg: BreakerSettings, now: float) -> None:
        self.cfg = cfg
        self.state = "closed"
        self.transitions = 0
        self.entered = now  # when the current state began
        self.failures_in_a_row = 0
        self.seen: list[tuple[float, bool]] = []  # (time, failed) of outcomes while closed
        self.probes_out = 0
        self.probes_ok = 0
        self.slots_freed_at = now

    def go(self, state: str, now: float) -> None:
        self.state, self.entered, self.transitions = state, now, self.transitions + 1
        self.probes_out = self.probes_ok = 0
        self.slots_freed_at = now
        if state == "closed":
            self.failures_in_a_row, self.seen = 0, []

    def admit(self, now: float) -> tuple[bool, bool]:
        """(admitted, as a probe)."""
        if self.state == "closed":
            return True, False
        if self.state == "open":
            if now - self.entered < self.cfg.cooldown_s:
                return False, False
            self.go("half_open", now)
        all_out = self.probes_out >= self.cfg.half_open_probes
        if all_out and now - self.slots_freed_at >= self.cfg.cooldown_s:
            self.probes_out, self.slots_freed_at = 0, now  # presumed lost
        if self.probes_out >= self.cfg.half_open_probes:
            return False, False
        self.probes_out += 1
        return True, True

    def _rate_trips(self, outcomes: list[bool]) -> bool:
        return len(outcomes) >= self.cfg.min_calls and sum(outcomes) / len(outcomes) >= self.cfg.failure_rate

    def record(self, outcome: str, admitted_at_transition: int, now: float) -> str:
        """Apply an outcome; returns "opened", "closed", "stays" or "either" (window edge)."""
        if admitted_at_transition != self.transitions:
            return "stays"
        if self.state == "half_open":
            if outcome == "failure":
                self.go("open", now)
                return "opened"
            if outcome == "neutral":
                self.probes_out = max(0, self.probes_out - 1)
                return "stays"
            self.probes_ok += 1
            if self.probes_ok >= self.cfg.half_open_probes:
                self.go("closed", now)
                return "closed"
            return "stays"
        if outcome == "neutral":
            return "stays"
        failed = outcome == "failure"
        self.seen.append((now, failed))
        self.failures_in_a_row = self.failures_in_a_row + 1 if failed else 0
        if self.failures_in_a_row >= self.cfg.failure_threshold:
            self.go("open", now)
            return "opened"
        if not failed:
            return "stays"
        slot, eps = self.cfg.window_s / 10, 1e-9
        surely_in = now - self.cfg.window_s + slot + eps  # newer than this: inside the window for sure
        maybe_in = now - self.cfg.window_s - eps  # older than this: outside for sure
        edge = sorted({t for t, _ in self.seen if maybe_in < t < surely_in})
        cuts = [surely_in, *edge]  # every way the window's start can fall among the edge outcomes
        verdicts = {self._rate_trips([f for t, f in self.seen if t >= cut]) for cut in cuts}
        if verdicts == {True}:
            self.go("open", now)
            return "opened"
        return "stays" if verdicts == {False} else "either"


configs = st.builds(
    BreakerSettings,
    failure_threshold=st.integers(1, 6),
    failure_rate=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    window_s=st.sampled_from([1.0, 5.0, 10.0]),
    min_calls=st.integers(1, 8),
    cooldown_s=st.sampled_from([0.5, 2.0, 5.0]),
    half_open_probes=st.integers(1, 3),
)
#: time steps: mostly short (calls in a burst, inside the cool-down), some past a cool-down or window
gaps = st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.3]), st.floats(0, 1), st.floats(0, 6))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), gaps),
        st.tuples(st.sampled_from(["success", "failure", "failure", "neutral"]), gaps, st.integers(0, 50)),
    ),
    max_size=120,
)


Step = tuple[Any, ...]  # ("admit", gap_s) or (outcome, gap_s, which in-flight call reports it)


def run_against_diagram(cfg: BreakerSettings, steps: list[Step]) -> list[str]:
    """Drive `admit`/`record` and `DiagramBreaker` with the same steps; return the state after each."""
    now = 1000.0
    ref = DiagramBreaker(cfg, now)
    rec = None
    states: list[str] = []
    in_flight: list[tuple[int, int]] = []  # (implementation generation, reference transition count)
    for step in steps:
        now += step[1]
        if step[0] == "admit":
            rec, (admission, _) = admit(rec, cfg, now)
            allowed, probe = ref.admit(now)
            assert (admission.allowed, admission.probe) == (allowed, probe), (ref.state, now, step)
            if admission.allowed:
                in_flight.append((admission.generation, ref.transitions))
        elif in_flight:
            gen, seen_transitions = in_flight.pop(step[2] % len(in_flight))
            before = rec["state"] if rec is not None else "closed"
            rec, moved = record(rec, cfg, now, step[0], gen)
            verdict = ref.record(step[0], seen_transitions, now)
            if verdict == "either":  # the window's edge decides: both outcomes are right; follow it
                assert before == "closed" and step[0] == "failure"
                if moved is not None:
                    assert moved.new == "open"
                    ref.go("open", now)
            else:
                expected = {"opened": "open", "closed": "closed", "stays": None}[verdict]
                assert (moved.new if moved is not None else None) == expected, (verdict, moved, step)
        if rec is not None:
            assert rec["state"] == ref.state, step
            assert rec["gen"] == ref.transitions, step
        states.append(ref.state)
    return states


@settings(max_examples=500, deadline=None)
@given(cfg=configs, steps=ops)
def test_state_machine_matches_the_diagram(cfg: BreakerSettings, steps: list[Step]) -> None:
    run_against_diagram(cfg, steps)


A, F, S, N = "admit", "failure", "success", "neutral"
OLDEST, NEWEST = 0, -1


SCENARIOS: list[tuple[str, dict[str, Any], list[Step], str]] = [
    ("N failures in a row open it", {"failure_threshold": 2}, [(A, 0), (F, 0, 0), (A, 0), (F, 0, 0)], "open"),
    (
        "a success ends the run",
        {"failure_threshold": 2},
        [(A, 0), (F, 0, 0), (A, 0), (S, 0, 0), (A, 0), (F, 0, 0)],
        "closed",
    ),
    (
        "a neutral outcome does not end the run",
        {"failure_threshold": 2},
        [(A, 0), (F, 0, 0), (A, 0), (N, 0, 0), (A, 0), (F, 0, 0)],
        "open",
    ),
    (
        "the failure rate opens it once min_calls were seen",
        {"failure_threshold": 9, "failure_rate": 0.5, "min_calls": 4},
        [(A, 0), (S, 0, 0), (A, 0), (F, 0, 0), (A, 0), (S, 0, 0), (A, 0), (F, 0, 0)],
        "open",
    ),
    (
        "not before min_calls",
        {"failure_threshold": 9, "failure_rate": 0.5, "min_calls": 5},
        [(A, 0), (S, 0, 0), (A, 0), (F, 0, 0), (A, 0), (S, 0, 0), (A, 0), (F, 0, 0)],
        "closed",
    ),
    (
        "calls older than the window do not count",
        {"failure_threshold": 9, "failure_rate": 0.5, "min_calls": 3, "window_s": 1.0},
        [(A, 0), (F, 0, 0), (A, 0), (F, 0, 0), (A, 5), (S, 0, 0), (A, 0), (F, 0, 0)],
        "closed",
    ),
    ("open refuses during the cool-down", {"failure_threshold": 1}, [(A, 0), (F, 0, 0), (A, 5)], "open"),
    (
        "after the cool-down the next call is a probe",
        {"failure_threshold": 1, "cooldown_s": 2},
        [(A, 0), (F, 0, 0), (A, 2)],
        "half_open",
    ),
    (
        "probes that succeed close it",
        {"failure_threshold": 1, "cooldown_s": 2, "half_open_probes": 2},
        [(A, 0), (F, 0, 0), (A, 2), (A, 0), (A, 0), (S, 0, 0), (S, 0, 0)],
        "closed",
    ),
    (
        "a failed probe re-opens it",
        {"failure_threshold": 1, "cooldown_s": 2},
        [(A, 0), (F, 0, 0), (A, 2), (F, 0, 0), (A, 1)],
        "open",
    ),
    (
        "a neutral probe frees its slot",
        {"failure_threshold": 1, "cooldown_s": 2},
        [(A, 0), (F, 0, 0), (A, 2), (N, 0, 0), (A, 0), (S, 0, 0)],
        "closed",
    ),
    (
        "probes lost for a cool-down are re-armed",
        {"failure_threshold": 1, "cooldown_s": 2},
        [(A, 0), (F, 0, 0), (A, 2), (A, 1), (A, 1), (S, 0, NEWEST)],
        "closed",
    ),
    (
        "an outcome from before the last transition is ignored",
        {"failure_threshold": 1, "cooldown_s": 2},
        [(A, 0), (A, 0), (F, 0, NEWEST), (A, 2), (S, 0, OLDEST)],
        "half_open",
    ),
]


@pytest.mark.parametrize(("rule", "cfg", "steps", "final"), [pytest.param(*row, id=row[0]) for row in SCENARIOS])
def test_each_rule_of_the_diagram(rule: str, cfg: dict[str, Any], steps: list[Step], final: str) -> None:
    """One scenario per rule, so every rule is exercised whatever hypothesis happens to draw."""
    settings_ = BreakerSettings(**{"min_calls": 100, **cfg})
    assert run_against_diagram(settings_, steps)[-1] == final


@settings(max_examples=200, deadline=None)
@given(cfg=configs, outcomes=st.lists(st.sampled_from(["success", "failure"]), max_size=60))
def test_invariants_over_random_sequences(cfg: BreakerSettings, outcomes: list[str]) -> None:
    """Sequential calls 0.01 s apart: open only after a failure, nothing admitted while cooling down,
    at most ``half_open_probes`` probes per half-open period, closed again only after probes succeed."""
    rec = None
    now = 0.0
    probes_this_period = 0
    for outcome in outcomes:
        now += 0.01
        before = rec["state"] if rec else "closed"
        rec, (admission, _) = admit(rec, cfg, now)
        if before == "open" and rec["state"] == "open":
            assert not admission.allowed and admission.retry_in > 0
        if rec["state"] == "half_open" and before != "half_open":
            probes_this_period = 0
        if not admission.allowed:
            continue
        if admission.probe:
            probes_this_period += 1
            assert probes_this_period <= cfg.half_open_probes
        state_before = rec["state"]
        rec, moved = record(rec, cfg, now, outcome, admission.generation)  # type: ignore[arg-type]
        if moved is not None and moved.new == "open":
            assert outcome == "failure"
        if moved is not None and moved.new == "closed":
            assert state_before == "half_open" and outcome == "success"


def test_stale_outcome_is_ignored() -> None:
    cfg = BreakerSettings(failure_threshold=1, cooldown_s=1, half_open_probes=1)
    rec, (slow, _) = admit(None, cfg, 0.0)
    rec, (fast, _) = admit(rec, cfg, 0.0)
    rec, moved = record(rec, cfg, 0.1, "failure", fast.generation)
    assert moved is not None and rec["state"] == "open"
    rec, (probe, moved) = admit(rec, cfg, 1.5)
    assert probe.allowed and probe.probe and rec["state"] == "half_open"
    # The slow call admitted before the breaker opened now succeeds: it must not close the breaker.
    rec, moved = record(rec, cfg, 1.6, "success", slow.generation)
    assert moved is None and rec["state"] == "half_open"
    rec, moved = record(rec, cfg, 1.7, "success", probe.generation)
    assert moved is not None and moved.new == "closed"


def transition_logs(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str, str]]:
    """(level, model, from, to) of each breaker-transition record, checked against its message."""
    out = []
    for r in caplog.records:
        if getattr(r, "event", None) != "breaker_transition":
            continue
        assert r.name == "modelyard.resilience"
        model, old, new = r.model, getattr(r, "from"), r.to  # type: ignore[attr-defined]
        assert r.getMessage().startswith(f"breaker {model}: {old} → {new} (")
        out.append((r.levelname, model, old, new))
    return out


@pytest.mark.parametrize(
    ("cfg", "outcomes", "expected", "reason"),
    [
        ({"failure_threshold": 2}, [F, F], [("closed", "open")], "2 consecutive failures"),
        (
            {"failure_threshold": 9, "failure_rate": 0.5, "min_calls": 4},
            [S, F, S, F],
            [("closed", "open")],
            "failure rate 2/4 ≥ 0.5 over 30s",
        ),
        (
            {"failure_threshold": 1},
            [F, "cool-down", S],
            [("closed", "open"), ("open", "half_open"), ("half_open", "closed")],
            "1 probe(s) succeeded",
        ),
        (
            {"failure_threshold": 1},
            [F, "cool-down", F],
            [("closed", "open"), ("open", "half_open"), ("half_open", "open")],
            "a half-open probe failed",
        ),
    ],
)
async def test_every_transition_is_logged(
    caplog: pytest.LogCaptureFixture,
    cfg: dict[str, Any],
    outcomes: list[str],
    expected: list[tuple[str, str]],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.resilience")
    clock = [100.0]
    settings_ = BreakerSettings(**{"min_calls": 100, "cooldown_s": 10, **cfg})
    breaker = Breaker("gpt-x", settings_, MemoryState(), clock=lambda: clock[0])
    for outcome in outcomes:
        if outcome == "cool-down":
            clock[0] += 10
            continue
        await breaker.record(outcome, await breaker.admit())  # type: ignore[arg-type]
    assert transition_logs(caplog) == [("WARNING", "gpt-x", old, new) for old, new in expected]
    assert caplog.records[-1].getMessage().endswith(f"({reason})")


async def test_breaker_over_backend_logs_and_shares_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.resilience")
    state = MemoryState()
    clock = [100.0]
    cfg = BreakerSettings(failure_threshold=2, cooldown_s=10)
    seen = []
    one = Breaker("m", cfg, state, clock=lambda: clock[0], on_transition=seen.append)
    other = Breaker("m", cfg, state, clock=lambda: clock[0])  # another instance, same backend
    for _ in range(2):
        admission = await one.admit()
        await one.record("failure", admission)
    assert [(t.old, t.new) for t in seen] == [("closed", "open")]
    assert seen[0].reason == "2 consecutive failures"
    assert one.unavailable_reason() is not None and "open" in one.unavailable_reason()  # type: ignore[operator]
    refused = await other.admit()
    assert not refused.allowed and math.isclose(refused.retry_in, 10.0)
    clock[0] += 10
    assert one.unavailable_reason() is None  # cool-down over: routers may send a probe
    probe = await other.admit()
    assert probe.allowed and probe.probe
    assert not (await one.admit()).allowed  # only one probe
    await other.record("success", probe)
    assert other.state == "closed"
    # Each transition is logged once, by the instance that made it: one opened it, the other probed and closed it.
    assert transition_logs(caplog) == [
        ("WARNING", "m", "closed", "open"),
        ("WARNING", "m", "open", "half_open"),
        ("WARNING", "m", "half_open", "closed"),
    ]
