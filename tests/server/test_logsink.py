"""The gateway's log handler and formatter (modelyard.server.logsink)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time

import pytest

from modelyard.server.logsink import BatchingStreamHandler, SecondsFormatter

FMT = "%(asctime)s %(levelname)-7s %(name)s %(message)s"


def _record(level: int, msg: str, created: float | None = None) -> logging.LogRecord:
    record = logging.LogRecord("modelyard.access", level, __file__, 1, msg, None, None)
    if created is not None:
        record.created = created
        record.msecs = float(int((created - int(created)) * 1000))
    return record


@pytest.mark.parametrize(
    "created",
    [1795995128.0004, 1795995128.9999, 1795995129.5, 1700000000.0, 1795995128.123],
)
def test_seconds_formatter_matches_logging(created: float) -> None:
    plain, fast = logging.Formatter(FMT), SecondsFormatter(FMT)
    for t in (created, created + 0.001, created + 1.0):  # same second, then the next
        record = _record(logging.INFO, "x", t)
        assert fast.format(record) == plain.format(record)


def test_info_lines_are_batched_and_written_within_the_interval() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval_s=0.1)
    try:
        for i in range(3):
            handler.handle(_record(logging.INFO, f"line {i}"))
        assert stream.getvalue() == ""  # queued, not written per line
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.getvalue() == "line 0\nline 1\nline 2\n"
    finally:
        handler.close()


def test_a_warning_is_written_at_once_after_what_is_queued() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval_s=60)
    try:
        handler.handle(_record(logging.INFO, "access"))
        handler.handle(_record(logging.WARNING, "breaker opened"))
        assert stream.getvalue() == "access\nbreaker opened\n"
    finally:
        handler.close()


def test_flush_close_and_size_limit_write_what_is_queued() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval_s=60, max_bytes=20)
    handler.handle(_record(logging.INFO, "a"))
    handler.flush()
    assert stream.getvalue() == "a\n"
    handler.handle(_record(logging.INFO, "b" * 30))  # over max_bytes: written now
    assert stream.getvalue() == "a\n" + "b" * 30 + "\n"
    handler.handle(_record(logging.INFO, "c"))
    handler.close()
    assert stream.getvalue().endswith("c\n")
    handler.handle(_record(logging.INFO, "after close"))  # still written, never lost
    assert stream.getvalue().endswith("after close\n")


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        BatchingStreamHandler(io.StringIO(), interval_s=0)


def test_lines_queued_at_exit_are_written() -> None:
    """`logging.shutdown` (atexit) flushes the handler: nothing queued is lost when the process ends."""
    code = (
        "import logging, sys\n"
        "from modelyard.server.logsink import BatchingStreamHandler\n"
        "h = BatchingStreamHandler(sys.stdout, interval_s=60)\n"
        "log = logging.getLogger('t'); log.addHandler(h); log.setLevel(logging.INFO)\n"
        "for i in range(100): log.info('line %d', i)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == [f"line {i}" for i in range(100)]
