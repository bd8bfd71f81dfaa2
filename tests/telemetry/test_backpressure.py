"""A slow or broken sink never slows or fails a request; what it cannot take is counted."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence

from modelyard.config.telemetry import TelemetrySettings
from modelyard.telemetry import TelemetryHub
from modelyard.telemetry.sinks.base import Item
from modelyard.types import ChatRequest
from tests.telemetry.conftest import SIM, MakeEngine, wait_until

PLAIN = SIM + "routers: {default: {kind: fixed, target: tiny}}\ntelemetry: {enabled: false}\n"


class BlockingSink:
    """Blocks every write until released: a database that stopped answering."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.written: list[Item] = []

    def open(self) -> None:
        pass

    def write(self, items: Sequence[Item]) -> None:
        self.entered.set()
        self.release.wait(30)
        self.written.extend(items)

    def close(self) -> None:
        pass


class BrokenSink(BlockingSink):
    name = "broken"

    def write(self, items: Sequence[Item]) -> None:
        raise OSError("disk on fire")


def hub_with(sink: BlockingSink, **settings: object) -> TelemetryHub:
    cfg = TelemetrySettings(queue_size=5, batch_size=2, flush_interval_ms=1, **settings)  # type: ignore[arg-type]
    return TelemetryHub(cfg, {}, sinks=[sink])


async def _latencies(engine, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Per-request latency in ms, with the garbage collector held off: a full collection over the
    test process's heap (every collected test module's imports) took ~75 ms and landed on one
    request when the whole telemetry suite was collected; that pause is not the sink's doing."""
    out = []
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            started = time.perf_counter()
            await engine.chat(ChatRequest.from_text(f"hello {i}"))
            out.append((time.perf_counter() - started) * 1000.0)
    finally:
        gc.enable()
    return out


async def test_a_blocked_sink_does_not_slow_requests_and_drops_are_counted(make_engine: MakeEngine) -> None:
    sink = BlockingSink()
    hub = hub_with(sink)
    baseline = await _latencies(make_engine(PLAIN), 50)
    engine = make_engine(PLAIN, listeners=[hub])
    await engine.chat(ChatRequest.from_text("first"))
    assert wait_until(sink.entered.is_set)  # the worker is now stuck inside write()
    blocked = await _latencies(engine, 200)
    # the queue holds 5; everything after is dropped, and no request waited for the sink
    stats = hub.sink_stats()[0]
    assert stats.dropped == 200 - 5 and stats.queued == 5
    assert max(blocked) < max(baseline) + 25.0, (max(blocked), max(baseline))
    assert sorted(blocked)[len(blocked) // 2] < sorted(baseline)[len(baseline) // 2] + 2.0
    sink.release.set()
    assert hub.flush(5)
    assert len(sink.written) == 1 + 5
    assert hub.metrics is not None
    assert b'modelyard_telemetry_dropped_total{sink="blocking"} 195.0' in hub.metrics.exposition()
    hub.close()


async def test_a_failing_sink_is_counted_and_requests_succeed(make_engine: MakeEngine) -> None:
    hub = hub_with(BrokenSink())
    engine = make_engine(PLAIN, listeners=[hub])
    for i in range(4):
        done = await engine.chat(ChatRequest.from_text(f"q{i}"))
        assert done.model == "tiny"
        assert hub.flush(5)
    stats = hub.sink_stats()[0]
    assert stats.failed == 4 and stats.written == 0 and "disk on fire" in (stats.last_error or "")
    hub.close()


def test_close_gives_up_on_a_sink_that_never_returns() -> None:
    sink = BlockingSink()
    hub = hub_with(sink)
    from modelyard.telemetry import Record

    for i in range(20):
        hub.workers[0].offer(Record(request_id=f"r{i}", time=0.0))
    assert wait_until(sink.entered.is_set)
    started = time.perf_counter()
    hub.close(timeout=0.2)
    assert time.perf_counter() - started < 1.0
    sink.release.set()
