"""Write-behind changes nothing a single process can observe: property test against the diagram.

A `Breaker` in shared-store mode (`Sharing`: admits a closed breaker from its view, counts
successes locally, writes them on a flush or with the next failure) is driven with the same
random steps as the diagram reference of test_breaker.py, plus random flushes. Within one
process every admission, every transition and the stored state and generation after each
step must match the reference exactly; and `merge_successes` of a batch must equal
`record`-ing its successes one at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.config.resilience import BreakerSettings
from modelyard.resilience.breaker import Breaker, Sharing
from modelyard.resilience.breaker_machine import SuccessBatch, admit, merge_successes, record, slot_of
from modelyard.resilience.state import MemoryState
from tests.resilience.test_breaker import DiagramBreaker, Step, configs, gaps

ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), gaps),
        st.tuples(st.sampled_from(["success", "success", "failure", "neutral"]), gaps, st.integers(0, 50)),
        st.tuples(st.just("flush"), gaps),
    ),
    min_size=20,  # long enough that successes are often pending when a failure comes
    max_size=150,
)


async def drive(cfg: BreakerSettings, steps: list[Step]) -> None:
    clock = [1000.0]
    store = MemoryState()
    breaker = Breaker("m", cfg, store, clock=lambda: clock[0], sharing=Sharing(refresh_s=3600, flush_s=3600))
    ref = DiagramBreaker(cfg, clock[0])
    in_flight: list[tuple[Any, int]] = []  # (admission, reference transition count)
    for step in steps:
        clock[0] += step[1]
        now = clock[0]
        if step[0] == "flush":
            await breaker.flush()
        elif step[0] == "admit":
            admission = await breaker.admit()
            allowed, probe = ref.admit(now)
            assert (admission.allowed, admission.probe) == (allowed, probe), (ref.state, now, step)
            if admission.allowed:
                in_flight.append((admission, ref.transitions))
        elif in_flight:
            admission, seen_transitions = in_flight.pop(step[2] % len(in_flight))
            moved = await breaker.record(step[0], admission)
            verdict = ref.record(step[0], seen_transitions, now)
            if verdict == "either":
                if moved is not None:
                    ref.go("open", now)
            else:
                expected = {"opened": "open", "closed": "closed", "stays": None}[verdict]
                assert (moved.new if moved is not None else None) == expected, (verdict, moved, step)
        (rec,) = await store.read_json([breaker.key])
        if rec is not None:
            assert (rec["state"], rec["gen"]) == (ref.state, ref.transitions), step
        assert breaker.state == ref.state, step
    await breaker.aclose()


@settings(max_examples=300, deadline=None)
@given(cfg=configs, steps=ops)
def test_write_behind_matches_the_diagram(cfg: BreakerSettings, steps: list[Step]) -> None:
    asyncio.run(drive(cfg, steps))


@settings(max_examples=300, deadline=None)
@given(
    cfg=configs,
    before=st.lists(st.tuples(st.sampled_from(["success", "failure"]), st.floats(0, 3)), max_size=20),
    batch=st.lists(st.floats(0, 3), min_size=1, max_size=20),
    wait=st.floats(0, 3),
)
def test_merging_a_batch_equals_recording_it(
    cfg: BreakerSettings, before: list[tuple[str, float]], batch: list[float], wait: float
) -> None:
    """Outcomes recorded one by one, then successes at later times: recorded one by one, or merged."""
    now, rec = 0.0, None
    for outcome, gap in before:
        now += gap
        rec, _ = record(rec, cfg, now, outcome, 0)  # type: ignore[arg-type]
    rec, (admission, _) = admit(rec, cfg, now)
    if rec["state"] != "closed":  # opened by ``before``: a batch of the closed generation changes nothing
        stale = SuccessBatch(admission.generation - 1)
        stale.add(slot_of(cfg, now), now)
        assert merge_successes(rec, cfg, now, stale) == rec
        return
    one_by_one, pending = dict(rec), SuccessBatch(admission.generation)
    for gap in batch:
        now += gap
        one_by_one, moved = record(one_by_one, cfg, now, "success", admission.generation)
        assert moved is None
        pending.add(slot_of(cfg, now), now)
    merged = merge_successes(rec, cfg, now + wait, pending)
    window = slot_of(cfg, now + wait) - 10
    keep = [b for b in one_by_one["buckets"] if b[0] > window]
    assert [b for b in merged["buckets"] if b[0] > window] == keep
    assert {k: v for k, v in merged.items() if k != "buckets"} == {
        k: v for k, v in one_by_one.items() if k != "buckets"
    }
