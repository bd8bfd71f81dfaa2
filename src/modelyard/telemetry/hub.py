"""`TelemetryHub`: the engine's request listener that turns traces into records.

On the request path it only builds the record, updates in-process metrics,
keeps the record in a small ring for the live dashboard and offers it to
each sink's bounded queue — never waiting on I/O. Spans are built only when
tracing is on. Text reaches the hub only when ``capture_text`` is on (the
engine asks ``captures_text`` first).

Each sink is written by its worker's thread, or by a child process the
thread feeds (``telemetry.writer``, see `writer_mode`). A hub dropped
without ``close`` stops its workers when it is garbage-collected: they
drain, close their sinks and reap their writer processes.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from modelyard.config.models import ModelSpec
from modelyard.config.telemetry import TelemetrySettings
from modelyard.telemetry.convert import record_from_trace
from modelyard.telemetry.metrics import BreakerStates, TelemetryMetrics
from modelyard.telemetry.privacy import SecretScrubber, TextPolicy
from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.sinks.base import RecordStore, Sink, ViewStore
from modelyard.telemetry.wire import encode_item
from modelyard.telemetry.worker import SinkStats, SinkWorker
from modelyard.telemetry.writer_process import writer_spec
from modelyard.types import RequestTrace

if TYPE_CHECKING:
    from modelyard.telemetry.tracing import SpanBuilder

__all__ = ["TelemetryHub", "WriterMode", "writer_mode"]

log = logging.getLogger("modelyard.telemetry")

WriterMode = Literal["thread", "process"]


def writer_mode(setting: str, sink: Sink, *, auto_process: bool = False) -> WriterMode:
    """How ``sink`` is written under ``telemetry.writer: setting`` (auto, thread, process).

    ``process`` only for a sink a child can rebuild (``writer_spec()`` is not None: SQLite, PostgreSQL,
    JSONL to a file); ``auto`` means process only when ``auto_process`` (`build_hub` sets it for the
    configured sqlite and postgres sinks), so sink objects passed in code stay on a thread.
    """
    if setting == "thread" or writer_spec(sink) is None:
        return "thread"
    if setting == "process" or auto_process:
        return "process"
    return "thread"


class TelemetryHub:
    def __init__(
        self,
        settings: TelemetrySettings,
        models: Mapping[str, ModelSpec],
        *,
        sinks: Sequence[Sink] = (),
        scrub: Callable[[str], str] | None = None,
        text: TextPolicy | None = None,
        spans: SpanBuilder | None = None,
        breakers: BreakerStates | None = None,
        writers: Sequence[WriterMode] | None = None,
    ) -> None:
        """``writers``: per sink, thread or process; default `writer_mode` of ``settings.writer``."""
        self.settings = settings
        modes = list(writers) if writers is not None else [writer_mode(settings.writer, s) for s in sinks]
        if len(modes) != len(sinks):
            raise ValueError(f"{len(modes)} writer modes for {len(sinks)} sinks")
        self.models = models
        self.scrub = scrub or SecretScrubber()
        self.text = text
        self.captures_text = text is not None
        self.spans = spans
        self.workers = [
            SinkWorker(
                s,
                queue_size=settings.queue_size,
                batch_size=settings.batch_size,
                flush_interval_s=settings.flush_interval_ms / 1000.0,
                retention_s=(
                    settings.retention.records_days * 86_400.0 if settings.retention.records_days else None
                ),
                prune_every_s=settings.retention.prune_every_s,
                process=mode == "process",
            )
            for s, mode in zip(sinks, modes, strict=True)
        ]
        self._encode = any(w.writer is not None for w in self.workers)
        # dropped without close: stop the workers (drain, close, reap) — never references the hub itself
        self._finalizer = weakref.finalize(self, _stop_workers, tuple(self.workers))
        self.metrics = (
            TelemetryMetrics(breakers=breakers, sinks=self.sink_stats) if settings.metrics else None
        )
        self.breakers = breakers
        self.recent: deque[Record] = deque(maxlen=settings.recent)
        self.started = time.time()
        self._pending_text: dict[str, tuple[str, str | None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- RequestListener -----------------------------------------------------------------

    def on_request_text(self, trace: RequestTrace, prompt: str, answer: str | None) -> None:
        """Called by the engine just before ``on_request_end``, only when ``captures_text``."""
        self._pending_text[trace.request_id] = (prompt, answer)

    def on_request_end(self, trace: RequestTrace) -> None:
        text = self._pending_text.pop(trace.request_id, None)
        record = record_from_trace(trace, self.models, self.scrub, keep_text=self.captures_text)
        if text is not None and self.text is not None:
            prompt, answer = text
            record.prompt, cut_prompt = self.text.apply(prompt)
            cut_answer = False
            if answer is not None:
                record.response, cut_answer = self.text.apply(answer)
            record.text_truncated = cut_prompt or cut_answer
        self.recent.append(record)
        if self.metrics is not None:
            self.metrics.observe(record)
        if self.spans is not None:
            try:
                self.spans.emit(trace, record)
            except Exception:
                log.exception("building spans for %s failed", record.request_id)
        wire = encode_item(record) if self._encode else None  # once for every process-mode sink
        for worker in self.workers:
            worker.offer(record, wire)

    # -- feedback -------------------------------------------------------------------------

    def feedback(self, fb: Feedback) -> None:
        """Store feedback with its record in every sink (off the request path, like records)."""
        for record in reversed(self.recent):
            if record.request_id == fb.request_id:
                record.feedback.append(fb)
                break
        if self.metrics is not None:
            self.metrics.observe_feedback(fb)
        wire = encode_item(fb) if self._encode else None
        for worker in self.workers:
            worker.offer(fb, wire)

    # -- reading ----------------------------------------------------------------------------

    @property
    def store(self) -> RecordStore | None:
        """The first sink that can be queried (SQLite, PostgreSQL, a JSONL file), if any."""
        for worker in self.workers:
            sink = worker.sink
            if isinstance(sink, RecordStore) and getattr(sink, "path", None) != "-":
                return sink
        return None

    @property
    def view_store(self) -> ViewStore | None:
        """The first sink with rollups to read windows from (SQLite, PostgreSQL), if any."""
        for worker in self.workers:
            if isinstance(worker.sink, ViewStore):
                return worker.sink
        return None

    def queued_records(self, sink: object) -> list[Record]:
        """Records offered to ``sink`` and not yet taken by its writer (at most its queue size)."""
        for worker in self.workers:
            if worker.sink is sink:
                return [i for i in worker.pending() if isinstance(i, Record)]
        return []

    def known(self, request_id: str) -> bool:
        if any(r.request_id == request_id for r in self.recent):
            return True
        store = self.store
        return store is not None and store.get(request_id) is not None

    def sink_stats(self) -> list[SinkStats]:
        return [w.stats() for w in self.workers]

    def breaker_states(self) -> dict[str, str]:
        return dict(self.breakers()) if self.breakers is not None else {}

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every sink has written what was offered so far."""
        return all([w.flush(timeout) for w in self.workers])

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        for worker in self.workers:
            worker.close(timeout)
        if self.spans is not None:
            self.spans.shutdown()

    def __repr__(self) -> str:
        return f"TelemetryHub(sinks={[w.sink.name for w in self.workers]}, capture_text={self.captures_text})"


def _stop_workers(workers: tuple[SinkWorker, ...]) -> None:
    for worker in workers:
        worker.stop()
