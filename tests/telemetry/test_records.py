"""Record content for each kind of request, and what must never reach a sink."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from modelyard.errors import BudgetExceededError, ProviderError
from modelyard.telemetry import Record
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import ChatRequest, RoutingHints
from tests.telemetry.conftest import SIM, MakeEngine

PROMPT = "PROMPT-zebra-7731 tell me about quokkas"
PROVIDER_KEY = "sk-provider-SECRET-9f8e7d6c5b4a"

ROUTERS = """
routers:
  default: {kind: fixed, target: tiny}
  plain: {kind: fixed, target: tiny}
  cheap-first:
    kind: cascade
    judge: {kind: heuristic, min_chars: 40}
    gate: 0.7
    steps: [terse, large]
  vote: {kind: council, strategy: majority, members: [terse, terse2, medium]}
  flaky-route: {kind: fixed, target: flaky}
"""

EXTRA_MODELS = """
  terse:  {family: slm, provider: sim, price: {input: 0.1, output: 0.1}, options: {text: "ok", label: false}}
  terse2: {family: slm, provider: sim, price: {input: 0.1, output: 0.1}, options: {text: "ok", label: false}}
  flaky:  {family: slm, provider: sim, options: {failure_rate: 1.0, failure_kind: server}}
  remote: {family: llm, provider: openai, base_url: "REMOTE_URL", api_key_env: TEST_PROVIDER_KEY}
"""
REFUSED = "http://127.0.0.1:9/v1"  # nothing listens on the discard port

RESILIENCE = """
resilience:
  fallbacks: {flaky: [tiny], remote: [medium]}
  budgets: {tenants: {broke: {daily_usd: 0}}}
"""


def yaml_for(tmp_path: Path, extra: str = "", *, remote_url: str = REFUSED) -> str:
    telemetry = f"""
telemetry:
  sinks:
    - {{kind: jsonl, path: '{tmp_path / "records.jsonl"}'}}
    - {{kind: sqlite, path: '{tmp_path / "records.db"}'}}
  flush_interval_ms: 20
{extra}"""
    return SIM + EXTRA_MODELS.replace("REMOTE_URL", remote_url) + ROUTERS + RESILIENCE + telemetry


def ask(model: str, text: str = PROMPT, **hints: object) -> ChatRequest:
    return ChatRequest.from_text(text, model=model, hints=RoutingHints(**hints))  # type: ignore[arg-type]


@pytest.fixture
def engine(make_engine: MakeEngine, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_engine(yaml_for(tmp_path), env={"TEST_PROVIDER_KEY": PROVIDER_KEY})


def last(engine) -> Record:  # type: ignore[no-untyped-def]
    return engine.telemetry.recent[-1]  # type: ignore[no-any-return]


async def test_plain_call(engine) -> None:  # type: ignore[no-untyped-def]
    done = await engine.chat(ask("plain", tenant="acme"))
    r = last(engine)
    assert r.schema_version == 1 and r.request_id == done.trace.request_id
    assert (r.requested, r.router, r.route, r.model, r.family, r.provider) == (
        "plain", "plain", ["plain"], "tiny", "slm", "sim",
    )  # fmt: skip
    assert r.tenant == "acme" and r.status == "ok" and r.simulated is True
    assert [(a.model, a.status, a.purpose) for a in r.attempts] == [("tiny", "ok", "answer")]
    assert r.input_tokens == done.response.usage.input_tokens and r.output_tokens == 8
    assert r.cost_usd == pytest.approx(done.cost_usd) and r.cost_usd > 0
    assert 0 < r.attempts[0].latency_ms <= r.latency_ms
    assert r.privacy_tier == "third_party" and r.fallbacks == r.escalations == 0
    assert r.prompt is None and r.response is None


async def test_stream_records_ttft(engine) -> None:  # type: ignore[no-untyped-def]
    session = await engine.stream(ask("plain"))
    text = "".join([c.text async for c in session])
    r = last(engine)
    assert text and r.stream is True and r.ttft_ms is not None and 0 < r.ttft_ms <= r.latency_ms
    assert r.output_tokens == 8 and r.model == "tiny"


async def test_cascade_escalation(engine) -> None:  # type: ignore[no-untyped-def]
    done = await engine.chat(ask("cheap-first"))
    r = last(engine)
    assert done.model == "large" and r.model == "large" and r.family == "llm"
    assert r.escalations == 1 and [e.kind for e in r.events] == ["escalation"]
    assert r.cascade is not None and r.cascade["passed"] is True and r.cascade["accepted_step"] == 1
    assert [(s["model"], s["passed"]) for s in r.cascade["steps"]] == [("terse", False), ("large", True)]
    assert "attempts" not in r.cascade  # the record's own attempt list holds them
    steps = [(a.model, a.purpose) for a in r.attempts]
    assert steps == [("terse", "cascade-step"), ("large", "cascade-step")]
    assert r.quality["judge_score"] == pytest.approx(1.0) and r.quality_source == "cascade judge"
    assert r.cost_usd == pytest.approx(sum(a.cost_usd for a in r.attempts))
    assert any("step 0" in c.name for c in r.rejected)
    assert r.privacy_tier == "private"


async def test_council(engine) -> None:  # type: ignore[no-untyped-def]
    done = await engine.chat(ask("vote"))
    r = last(engine)
    assert r.council is not None and r.council["strategy"] == "majority" and r.council["passed"] is True
    assert sorted(a.model for a in r.attempts) == ["medium", "terse", "terse2"]
    assert r.model == done.model and r.quality["council_passed"] == 1.0
    assert r.quality_source == "council majority"
    assert "winner" not in r.council and "votes" in r.council  # answer text stripped, counts kept
    assert r.council["votes"][0] == 2


async def test_fallback_after_failure(engine) -> None:  # type: ignore[no-untyped-def]
    done = await engine.chat(ask("flaky-route"))
    r = last(engine)
    assert done.model == "tiny" and r.model == "tiny" and r.status == "ok"
    assert [(a.model, a.status, a.error_kind) for a in r.attempts] == [
        ("flaky", "error", "server"), ("tiny", "ok", None),
    ]  # fmt: skip
    assert r.fallbacks == 1
    fb = next(e for e in r.events if e.kind == "fallback")
    assert fb.data["from_model"] == "flaky" and fb.data["to_model"] == "tiny"


async def test_budget_refusal(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BudgetExceededError):
        await engine.chat(ask("plain", tenant="broke"))
    r = last(engine)
    assert r.status == "error" and r.error_kind == "BudgetExceededError" and r.tenant == "broke"
    assert r.attempts == [] and r.cost_usd == 0 and r.model is None
    assert "budget" in (r.error or "")


async def test_records_reach_every_sink_and_no_secret_or_prompt_does(
    make_engine: MakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider key really travels — to a live upstream that answers, and that errors quoting the
    key back (as some vendors do) — and is found nowhere: not in any sink, log line or error."""
    caplog.set_level(logging.DEBUG)
    async with LoopbackUpstream(api_key=PROVIDER_KEY) as upstream:
        engine = make_engine(
            yaml_for(tmp_path, remote_url=upstream.url + "/v1"), env={"TEST_PROVIDER_KEY": PROVIDER_KEY}
        )
        await engine.chat(ask("plain", tenant="acme"))
        await engine.chat(ask("cheap-first"))
        await engine.chat(ask("vote"))
        await engine.chat(ask("flaky-route"))
        answered = await engine.chat(ask("remote"))  # the upstream checks the key and answers
        assert answered.model == "remote" and "quokkas" in answered.text
        upstream.faults.add(Fault(status=500, message=f"internal error for key {PROVIDER_KEY}"))
        fell_back = await engine.chat(ask("remote"))  # 500 quoting the key → fallback to medium
        assert fell_back.model == "medium" and fell_back.trace.attempts[0].error_kind == "server"
        upstream.faults.add(Fault(status=401, message=f"Incorrect API key provided: {PROVIDER_KEY}"))
        with pytest.raises(ProviderError) as refused:  # auth is not a fallback kind: the caller gets it
            await engine.chat(ask("remote"))
        upstream.faults.add(Fault(error_mid_stream=2, status_mid_stream=500, message=f"overloaded {PROVIDER_KEY}"))
        session = await engine.stream(ask("remote"))
        with pytest.raises(ProviderError) as broke:  # fails after the first chunk: no fallback possible
            _ = [c async for c in session]
        assert len(upstream.requests) == 4
        assert all(r.headers["authorization"] == f"Bearer {PROVIDER_KEY}" for r in upstream.requests)
        with pytest.raises(BudgetExceededError):
            await engine.chat(ask("plain", tenant="broke"))
        session = await engine.stream(ask("plain"))
        _ = [c async for c in session]
        assert engine.telemetry.flush()
    errors = [refused.value, broke.value]
    assert [e.kind.value for e in errors] == ["auth", "server"]
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    ids = [json.loads(line)["request_id"] for line in lines]
    assert len(ids) == 10 and ids == [r.request_id for r in engine.telemetry.recent]
    assert [r.status for r in engine.telemetry.recent].count("error") == 3  # 401, mid-stream, budget
    stored = engine.telemetry.workers[1].sink.query()
    assert [r.request_id for r in stored] == ids
    for path in sorted(tmp_path.glob("records*")):  # the DB file, its WAL and the JSONL  # noqa: ASYNC240
        raw = path.read_bytes()
        assert PROVIDER_KEY.encode() not in raw, path
        assert b"zebra-7731" not in raw and b"quokkas" not in raw, path
    for record in engine.telemetry.recent:
        assert PROVIDER_KEY not in record.model_dump_json(), record.request_id
    assert any("Incorrect API key provided" in r.error for r in engine.telemetry.recent if r.error)  # kept, scrubbed
    assert PROVIDER_KEY not in caplog.text
    for text in [str(e) for e in errors] + [repr(e) for e in errors]:
        assert PROVIDER_KEY not in text, text


async def test_capture_text_truncates_and_redacts(make_engine: MakeEngine, tmp_path: Path) -> None:
    extra = """  capture_text: true
  max_text_chars: 30
  redact: tests.telemetry.redact_hooks:mask_emails
"""
    engine = make_engine(yaml_for(tmp_path, extra))
    await engine.chat(ask("plain", text="mail me at ann@example.com " + "x" * 100))
    r = last(engine)
    assert r.prompt is not None and r.prompt.startswith("user: mail me at <email>")
    assert len(r.prompt) == 30 and r.text_truncated is True
    assert r.response is not None and "ann@example.com" not in r.response
    await engine.chat(ask("vote", text="short"))
    assert last(engine).council is not None and "winner" in last(engine).council  # type: ignore[operator]
    engine.telemetry.flush()
    assert b"ann@example.com" not in (tmp_path / "records.jsonl").read_bytes()


async def test_a_bad_redaction_hook_is_a_config_error(make_engine: MakeEngine, tmp_path: Path) -> None:
    from modelyard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"telemetry\.redact"):
        make_engine(yaml_for(tmp_path, "  capture_text: true\n  redact: tests.telemetry.redact_hooks:nope\n"))


async def test_telemetry_can_be_off(make_engine: MakeEngine) -> None:
    off = "routers: {default: {kind: fixed, target: tiny}}\ntelemetry: {enabled: false}\n"
    engine = make_engine(SIM + off)
    await engine.chat(ask("default"))
    assert engine.telemetry is None
