"""A batch run end to end on SIMULATED models: output shape, errors, retry, budgets, caps, resume."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from modelyard.batch import Checkpoint, CheckpointMismatchError, RunOptions
from modelyard.batch.checkpoint import from_nano
from tests.batch.conftest import SIM_BATCH, chat_line, read_lines, run_local, write_lines
from tests.conftest import make_config


async def test_output_lines_have_openai_shape_for_chat_and_embeddings(tmp_path: Path) -> None:
    config = make_config(SIM_BATCH)
    lines = [chat_line("a", "hello there"), chat_line("b", "[hard] prove it"),
             {"custom_id": "e", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "vectors", "input": ["one", "two"]}}]
    result = await run_local(config, tmp_path, write_lines(tmp_path / "in.jsonl", lines))
    out = {line["custom_id"]: line for line in read_lines(result.paths.output)}
    assert set(out) == {"a", "b", "e"} and result.error_lines == 0
    for line in out.values():
        assert set(line) == {"id", "custom_id", "response", "error"}
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert set(line["response"]) == {"status_code", "request_id", "body"}
        assert line["response"]["status_code"] == 200
    assert out["a"]["response"]["body"]["object"] == "chat.completion"
    assert out["a"]["response"]["body"]["model"] == "cheap"
    assert out["b"]["response"]["body"]["model"] == "top"
    assert out["b"]["response"]["body"]["modelyard"]["route"] == ["route"]
    emb = out["e"]["response"]["body"]
    assert emb["object"] == "list" and len(emb["data"]) == 2 and len(emb["data"][0]["embedding"]) == 32
    cp = Checkpoint(result.paths.checkpoint)
    try:
        t = cp.totals()
        assert (t.done, t.failed, t.starts) == (3, 0, 3)
        spend = {r["custom_id"]: from_nano(r["cost_nano"]) for r in cp.rows("custom_id, cost_nano")}
    finally:
        cp.close()
    for cid in ("a", "b", "e"):
        assert spend[cid] == pytest.approx(out[cid]["response"]["body"]["modelyard"]["cost_usd"])


FLAKY = SIM_BATCH.replace("routers:", """  flaky:
    family: slm
    provider: sim
    price: {input: 1.0, output: 2.0}
    options: {output_tokens: 10, failure_rate: %s, failure_kind: server}
routers:""")


async def test_failed_items_go_to_the_error_file_and_retry_failed_reruns_only_them(tmp_path: Path) -> None:
    lines = [chat_line(f"ok-{i}", f"fine {i}", model="cheap") for i in range(6)]
    lines += [chat_line(f"bad-{i}", f"breaks {i}", model="flaky") for i in range(4)]
    lines.append(chat_line("invalid", "x", model="cheap", temperature=9))
    src = write_lines(tmp_path / "in.jsonl", lines)
    first = await run_local(make_config(FLAKY % "1.0"), tmp_path, src)
    assert (first.output_lines, first.error_lines) == (6, 5)
    errors = {line["custom_id"]: line for line in read_lines(first.paths.errors)}
    assert errors["bad-0"]["response"]["status_code"] == 502
    assert "simulated server failure" in errors["bad-0"]["response"]["body"]["error"]["message"]
    assert errors["invalid"]["response"]["status_code"] == 400
    assert errors["invalid"]["response"]["body"]["error"]["param"] == "temperature"

    again = await run_local(make_config(FLAKY % "0.0"), tmp_path, src)  # same arguments: nothing to do
    assert again.stats.to_run == 0 and again.error_lines == 5

    retried = await run_local(make_config(FLAKY % "0.0"), tmp_path, src, options=RunOptions(retry_failed=True))
    assert retried.stats.to_run == 5 and retried.stats.done == 4 and retried.stats.failed == 1
    assert (retried.output_lines, retried.error_lines) == (10, 1)
    cp = Checkpoint(retried.paths.checkpoint)
    try:
        runs = {r["custom_id"]: r["runs"] for r in cp.rows("custom_id, runs")}
    finally:
        cp.close()
    assert all(runs[f"ok-{i}"] == 1 for i in range(6))
    assert all(runs[f"bad-{i}"] == 2 for i in range(4))


@pytest.mark.parametrize("concurrency", [1, 8, 32])
async def test_budget_stop_never_exceeds_the_cap(tmp_path: Path, concurrency: int) -> None:
    config = make_config(SIM_BATCH)
    lines = [chat_line(f"i{i}", f"[hard] item number {i}") for i in range(60)]
    src = write_lines(tmp_path / "in.jsonl", lines)
    cap = 0.5
    result = await run_local(config, tmp_path, src, concurrency=concurrency,
                             options=RunOptions(budget_usd=cap), reserve_calls=1.0)
    s = result.stats
    assert s.stopped == "budget" and 0 < s.done < 60 and s.skipped == 60 - s.done
    assert s.spent_usd <= cap
    skipped = read_lines(result.paths.errors)
    assert len(skipped) == s.skipped and all(line["error"]["code"] == "budget_exhausted" for line in skipped)
    assert all(line["response"] is None for line in skipped)
    # the next item's hold did not fit: the stop is as late as the holds allow
    per_item = s.spent_usd / s.done
    assert cap - s.spent_usd < per_item * 8  # hold = worst case (10 output tokens, 1.5 × input): < 8 items' cost


async def test_budget_downgrade_switches_to_the_cheaper_route_then_stops(tmp_path: Path) -> None:
    config = make_config(SIM_BATCH)
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"[hard] item {i}") for i in range(400)])
    cap = 0.4
    options = RunOptions(budget_usd=cap, on_budget="downgrade", downgrade_to="cheap")
    result = await run_local(config, tmp_path, src, options=options, reserve_calls=1.0)
    models = [line["response"]["body"]["model"] for line in read_lines(result.paths.output)]
    assert "top" in models and "cheap" in models
    first_cheap = models.index("cheap")
    assert set(models[first_cheap:]) == {"cheap"}  # once switched, every later item is downgraded
    assert result.stats.spent_usd <= cap and result.stats.downgraded == models.count("cheap")


def _slow_cheap(ms: int) -> str:
    old = "options: {output_tokens: 10}\n  top"
    return SIM_BATCH.replace(old, f"options: {{output_tokens: 10, latency_ms: {ms}}}\n  top")


async def test_per_model_cap_bounds_concurrent_calls(tmp_path: Path) -> None:
    config = make_config(_slow_cheap(40))
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"item {i}") for i in range(12)])
    started = time.perf_counter()
    await run_local(config, tmp_path, src, concurrency=12, caps={"cheap": 2})
    capped = time.perf_counter() - started
    assert capped >= 6 * 0.040 * 0.9  # 12 calls, 2 at a time, 40 ms each
    with pytest.raises(ValueError, match="names no model or family: nope"):
        await run_local(config, tmp_path, src, caps={"nope": 1})


async def test_a_checkpoint_belongs_to_one_input(tmp_path: Path) -> None:
    config = make_config(SIM_BATCH)
    await run_local(config, tmp_path, write_lines(tmp_path / "in.jsonl", [chat_line("a", "x")]))
    other = write_lines(tmp_path / "other.jsonl", [chat_line("b", "y")])
    with pytest.raises(CheckpointMismatchError, match="belongs to another input file"):
        await run_local(config, tmp_path, other)


async def test_a_run_cancelled_mid_way_resumes_without_rerunning_finished_items(tmp_path: Path) -> None:
    config = make_config(_slow_cheap(5))
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"item {i}") for i in range(300)])
    task = asyncio.create_task(run_local(config, tmp_path, src, concurrency=16))
    cp = Checkpoint(tmp_path / "out.checkpoint.sqlite")
    while cp.totals().done < 100:  # noqa: ASYNC110 — polling the checkpoint another task writes
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    mid = cp.totals()
    assert mid.running > 0 and mid.done < 300
    result = await run_local(config, tmp_path, src, concurrency=16)
    t = cp.totals()
    cp.close()
    assert (t.done, t.running, t.pending) == (300, 0, 0)
    assert result.stats.to_run == 300 - mid.done
    assert result.stats.resent_after_crash == mid.running
    assert t.starts == 300 + mid.running
    assert len({line["custom_id"] for line in read_lines(result.paths.output)}) == 300
    assert json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["custom_id"] == "i0"


IMAGES = SIM_BATCH.replace("routers:", """  painter:
    family: lcm
    provider: sim
    price: {input: 0.1, image: 0.04}
    modalities: {input: [text], output: [image]}
routers:""")


@pytest.mark.parametrize(
    ("body", "ok", "detail"),
    [
        ({"model": "painter", "prompt": "a lighthouse at dusk", "size": "512x512"}, True, 1),  # sim paints one
        ({"prompt": "a lighthouse", "response_format": "url"}, True, 1),
        ({"model": "painter", "prompt": ""}, False, "prompt must be a non-empty string"),
        ({"model": "painter", "prompt": "x", "colour": "red"}, False, "unknown field 'colour'"),
    ],
)
async def test_image_generation_items(tmp_path: Path, body: dict[str, object], ok: bool, detail: object) -> None:
    config = make_config(IMAGES)
    line = {"custom_id": "img", "method": "POST", "url": "/v1/images/generations", "body": body}
    result = await run_local(config, tmp_path, write_lines(tmp_path / "in.jsonl", [line]),
                             options=RunOptions(budget_usd=1.0))
    if ok:
        (out,) = read_lines(result.paths.output)
        data = out["response"]["body"]["data"]
        assert len(data) == detail and out["response"]["body"]["modelyard"]["model"] == "painter"
        key = "url" if body.get("response_format") == "url" else "b64_json"
        assert all(key in d for d in data)
        assert result.stats.spent_usd == pytest.approx(0.04 * len(data), abs=0.01)
    else:
        (err,) = read_lines(result.paths.errors)
        assert err["response"]["status_code"] == 400 and detail in err["response"]["body"]["error"]["message"]
