"""The official ``openai`` SDK's batch workflow against the gateway: upload, create, poll, download."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from modelyard.batch.gateway import batch_app
from modelyard.engine import Engine
from tests.batch.conftest import SLOW_BATCH, chat_line
from tests.conftest import make_config
from tests.server.server_harness import serve

SLOW = SLOW_BATCH


@pytest.fixture
def client(tmp_path: Path) -> Iterator[openai.OpenAI]:
    engine = Engine(make_config(SLOW))
    with serve(batch_app(engine, tmp_path / "store")) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _wait(client: openai.OpenAI, batch_id: str, until: tuple[str, ...], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until:
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.1)


@pytest.mark.parametrize("endpoint", ["/v1/chat/completions", "/v1/embeddings"])
def test_sdk_uploads_creates_polls_and_downloads(client: openai.OpenAI, endpoint: str) -> None:
    if endpoint == "/v1/chat/completions":
        lines = [chat_line(f"req-{i}", f"{'[hard] ' if i % 4 == 0 else ''}problem {i}") for i in range(20)]
        lines.append(chat_line("bad", "x", temperature=7))
    else:
        lines = [{"custom_id": f"req-{i}", "method": "POST", "url": endpoint,
                  "body": {"model": "vectors", "input": f"text {i}"}} for i in range(20)]
    uploaded = client.files.create(file=("batch.jsonl", _jsonl(lines)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(_jsonl(lines))
    assert client.files.retrieve(uploaded.id).filename == "batch.jsonl"
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=endpoint,  # type: ignore[arg-type]
                                  completion_window="24h", metadata={"job": "content-factory"})
    assert batch.status in ("validating", "in_progress") and batch.metadata == {"job": "content-factory"}
    done = _wait(client, batch.id, ("completed", "failed"))
    assert done.status == "completed", done.errors
    failed = 1 if endpoint == "/v1/chat/completions" else 0
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (
        len(lines), 20, failed)
    assert done.output_file_id and client.files.retrieve(done.output_file_id).purpose == "batch_output"
    out = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(20))
    assert all(o["response"]["status_code"] == 200 and o["error"] is None for o in out)
    if failed:
        assert done.error_file_id is not None
        errors = [json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()]
        assert [e["custom_id"] for e in errors] == ["bad"]
        assert errors[0]["response"]["status_code"] == 400
    else:
        assert done.error_file_id is None
    assert batch.id in [b.id for b in client.batches.list(limit=10).data]


def test_cancel_stops_the_batch_and_lists_unstarted_items_as_cancelled(client: openai.OpenAI) -> None:
    lines = [chat_line(f"req-{i}", f"problem {i}", model="cheap") for i in range(2000)]
    uploaded = client.files.create(file=("big.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    _wait(client, batch.id, ("in_progress",))
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = _wait(client, batch.id, ("cancelled",))
    assert done.request_counts is not None and done.request_counts.completed < 2000
    assert done.error_file_id is not None
    errors = [json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()]
    assert errors and all(e["error"]["code"] == "batch_cancelled" for e in errors)
    assert done.request_counts.completed + len(errors) == 2000
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n{oops\n',
         "line 2: not valid JSON"),
        (_jsonl([{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}]),
         "differs from the batch's endpoint"),
    ],
)
def test_an_invalid_input_file_fails_the_batch_with_line_errors(
    client: openai.OpenAI, payload: bytes, message: str
) -> None:
    uploaded = client.files.create(file=("bad.jsonl", payload), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    done = _wait(client, batch.id, ("failed", "completed"))
    assert done.status == "failed" and done.errors is not None and done.errors.data
    assert message in (done.errors.data[0].message or "")


def test_unknown_ids_are_404_and_bad_requests_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-nope")
    with pytest.raises(openai.BadRequestError, match="endpoint must be one of"):
        client.batches.create(input_file_id="file-x", endpoint="/v1/moderations", completion_window="24h")


def test_a_batch_survives_its_gateway_being_killed(tmp_path: Path) -> None:
    """A ``modelyard serve`` killed mid-batch: the next gateway on the same store resumes it from its checkpoint."""
    import os
    import signal
    import socket
    import sqlite3
    import subprocess
    import sys

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(SLOW)
    store = tmp_path / "store"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MODELYARD_BATCH_DIR": str(store), "MODELYARD_BATCH_CONCURRENCY": "4"}
    server = subprocess.Popen([sys.executable, "-m", "modelyard.cli", "serve", "-c", str(cfg), "--port", str(port),
                               "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                first.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "gateway did not start"
                time.sleep(0.2)
        lines = [chat_line(f"req-{i}", f"problem {i}", model="cheap") for i in range(400)]
        uploaded = first.files.create(file=("big.jsonl", _jsonl(lines)), purpose="batch")
        batch = first.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                     completion_window="24h")
        while (first.batches.retrieve(batch.id).request_counts or _NoCounts).completed < 50:
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    checkpoint = store / "batches" / batch.id / "checkpoint.sqlite"
    with sqlite3.connect(checkpoint) as conn:
        done_at_kill = conn.execute("SELECT COUNT(*) FROM items WHERE state = 'done'").fetchone()[0]
    assert 50 <= done_at_kill < 400

    engine = Engine(make_config(SLOW))
    with serve(batch_app(engine, store)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        done = _wait(client, batch.id, ("completed", "failed"))
        assert done.status == "completed" and done.request_counts is not None
        assert done.request_counts.completed == 400 and done.output_file_id
        out = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(400))
    with sqlite3.connect(checkpoint) as conn:
        assert conn.execute("SELECT COUNT(*) FROM items WHERE runs != 1").fetchone()[0] == 0


class _NoCounts:
    completed = 0
