"""Breaker state machine: property tests against a naive reference model, and the shared view."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.config.resilience import BreakerSettings
from modelyard.resilience.breaker import Breaker, admit, record
from modelyard.resilience.state import MemoryState


@dataclass
class Reference:
    """The breaker as the issue states it, computed from the full outcome history."""

    cfg: BreakerSettings
    state: str = "closed"
    gen: int = 0
    history: list[tuple[float, bool]] = field(default_factory=list)  # (time, failed) since last close
    opened_at: float = 0.0
    since: float = 0.0
    probes: int = 0
    probe_ok: int = 0

    def _to(self, state: str, now: float) -> None:
        self.state, self.gen, self.since, self.probes, self.probe_ok = state, self.gen + 1, now, 0, 0
        if state == "open":
            self.opened_at = now
        if state == "closed":
            self.history = []

    def admit(self, now: float) -> bool:
        if self.state == "open":
            if now - self.opened_at < self.cfg.cooldown_s:
                return False
            self._to("half_open", now)
        if self.state == "half_open":
            if self.probes >= self.cfg.half_open_probes and now - self.since >= self.cfg.cooldown_s:
                self.probes, self.since = 0, now
            if self.probes >= self.cfg.half_open_probes:
                return False
            self.probes += 1
        return True

    def record(self, outcome: str, gen: int, now: float) -> None:
        if gen != self.gen or self.state == "open":
            return
        if self.state == "half_open":
            if outcome == "failure":
                self._to("open", now)
            elif outcome == "neutral":
                self.probes = max(0, self.probes - 1)
            else:
                self.probe_ok += 1
                if self.probe_ok >= self.cfg.half_open_probes:
                    self._to("closed", now)
            return
        if outcome == "neutral":
            return
        self.history.append((now, outcome == "failure"))
        consecutive = 0
        for _, failed in reversed(self.history):
            if not failed:
                break
            consecutive += 1
        if consecutive >= self.cfg.failure_threshold:
            self._to("open", now)
            return
        width = self.cfg.window_s / 10
        current = math.floor(now / width)
        recent = [failed for t, failed in self.history if math.floor(t / width) > current - 10]
        enough = outcome == "failure" and len(recent) >= self.cfg.min_calls
        if enough and sum(recent) / len(recent) >= self.cfg.failure_rate:
            self._to("open", now)


configs = st.builds(
    BreakerSettings,
    failure_threshold=st.integers(1, 6),
    failure_rate=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    window_s=st.sampled_from([1.0, 5.0, 10.0]),
    min_calls=st.integers(1, 8),
    cooldown_s=st.sampled_from([0.5, 2.0, 5.0]),
    half_open_probes=st.integers(1, 3),
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.floats(0, 3)),
        st.tuples(st.sampled_from(["success", "failure", "neutral"]), st.floats(0, 3), st.integers(0, 50)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(cfg=configs, steps=ops)
def test_state_machine_matches_reference(cfg: BreakerSettings, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    ref = Reference(cfg)
    rec = None
    now = 1000.0
    in_flight: list[int] = []  # generations of admitted calls not yet reported
    for step in steps:
        now += step[1]
        if step[0] == "admit":
            rec, (admission, _) = admit(rec, cfg, now)
            expected = ref.admit(now)
            assert admission.allowed == expected
            if admission.allowed:
                in_flight.append(admission.generation)
        elif in_flight:
            gen = in_flight.pop(step[2] % len(in_flight))
            rec, _ = record(rec, cfg, now, step[0], gen)
            ref.record(step[0], gen, now)
        if rec is not None:
            assert rec["state"] == ref.state
            assert rec["gen"] == ref.gen


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


async def test_breaker_over_backend_logs_and_shares_state(caplog: object) -> None:
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
