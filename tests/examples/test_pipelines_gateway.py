"""The article's two layered pipelines end to end through the gateway (openai SDK), offline:
examples/pipelines.yaml with the real MiniLM, the real vector index and the real SmolLM2, the
reasoning tier SIMULATED; the board report's APIs are loopback services with injected faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.config import load_config
from modelyard.engine import Engine
from modelyard.providers import ProviderContext
from modelyard.server import create_app
from modelyard.testing.services import LoopbackService, ServiceFault, board_services
from tests.server.server_harness import Traces, serve

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "pipelines.yaml"

_register_all()  # the CLI registers its commands in main(); the tests call the app directly


@pytest.fixture
def board() -> Iterator[dict[str, LoopbackService]]:
    services = board_services()
    with (
        services["crm"].running_in_thread(),
        services["payments"].running_in_thread(),
        services["analytics"].running_in_thread(),
    ):
        yield services


@pytest.fixture
def gateway(
    board: dict[str, LoopbackService], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[openai.OpenAI, Traces]]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # index, step store and records in the test's dir
    articles = sorted(str(p) for p in (ROOT / "data" / "kb" / "articles").glob("*.md"))
    result = CliRunner().invoke(app, ["index", "add", "kb", *articles, "-c", str(CONFIG)])
    assert result.exit_code == 0, result.output
    assert "kb: added 8 chunks from 6 file(s)" in result.output
    env = {
        "CRM_URL": board["crm"].url,
        "PAYMENTS_URL": board["payments"].url,
        "ANALYTICS_URL": board["analytics"].url,
    }
    traces = Traces()
    engine = Engine(load_config(CONFIG, env=env), listeners=[traces], provider_context=ProviderContext(env=env))
    with serve(create_app(engine)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=240), traces


@pytest.mark.timeout(300)
def test_support_ticket_pipeline(gateway: tuple[openai.OpenAI, Traces]) -> None:
    client, traces = gateway
    raw = client.chat.completions.with_raw_response.create(
        model="pipeline:support-ticket",
        messages=[{"role": "user", "content": "I was charged twice for order 4417, please refund the extra charge"}],
    )
    answer = raw.parse()
    text = answer.choices[0].message.content or ""
    assert answer.model == "sim-moe"  # the reasoning tier answered …
    assert raw.headers["x-modelyard-simulated"] == "true"  # … and it is labelled a simulation
    assert text.startswith("[simulated sim-moe]")
    assert "Category (MLM): billing" in text  # the real MiniLM classified it
    assert "authorisation hold" in text  # the real vector index found the refunds article
    (trace,) = traces.items
    purposes = sorted(a.purpose for a in trace.attempts)
    assert purposes == ["stage:classify", "stage:extract", "stage:kb/embed", "stage:reply"]
    models = {a.purpose: a.model for a in trace.attempts}
    assert models["stage:classify"] == "minilm-local" and models["stage:extract"] == "smollm2-local"
    assert not any(a.simulated for a in trace.attempts if a.purpose != "stage:reply")
    extract = next(a for a in trace.attempts if a.purpose == "stage:extract")
    assert extract.status == "ok" and extract.usage.output_tokens > 0  # SmolLM2 really generated


def test_board_report_pipeline_with_faults_and_a_slow_service(
    gateway: tuple[openai.OpenAI, Traces], board: dict[str, LoopbackService]
) -> None:
    client, traces = gateway
    board["payments"].inject(ServiceFault("GET /revenue", status=503, times=2))
    board["crm"].inject(ServiceFault("GET /pipeline", status=429, retry_after=0.3))
    board["analytics"].slow_ms["GET /usage"] = 1500.0
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="pipeline:board-report",
        messages=[{"role": "user", "content": "Prepare the board report"}],
        stream=True,
        extra_body={"pipeline_inputs": {"quarter": "Q2"}},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    elapsed = time.monotonic() - started
    assert text.startswith("[simulated sim-moe]")
    assert '"net_revenue_usd": 1027000' in text and '"note": "note-1"' in text
    assert 1.5 <= elapsed < 6.0  # the slow analytics call bounds it; the retries ran beside it
    assert len(board["payments"].requests("GET /revenue")) == 3  # 503, 503, ok
    assert len(board["crm"].requests("GET /pipeline")) == 2  # 429 (Retry-After 0.3 s), ok
    notes = board["crm"].requests("POST /notes")
    assert len(notes) == 1 and notes[0]["idempotency_key"]  # published exactly once, with a key
    assert notes[0]["body"]["figures"]["dau_mau"] == round(19_100 / 63_500, 3)
    (trace,) = traces.items
    kinds = [e.kind for e in trace.events]
    assert "pipeline.plan" in kinds and any("fixed plan 'board-report' from config" in e.detail for e in trace.events)
    assert kinds.count("action.approval") == 1  # the gate, approved by the pipeline
    failed_tries = [e for e in trace.events if e.kind == "action.step" and e.data.get("status") == "error"]
    assert sorted(e.data["step"] for e in failed_tries) == ["crm", "payments", "payments"]
