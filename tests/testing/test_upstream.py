"""The loopback upstream itself: HTTP/1.1 correctness, protocols, faults, ways to run it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from modelyard.testing import Fault, FaultPlan, LoopbackUpstream

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


async def _raw(up: LoopbackUpstream, payload: bytes, *, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection(up.host, up.port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(-1) if read_until_close else reader.read(65536), 5)
    writer.close()
    return data


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    body = json.dumps(CHAT).encode()
    async with LoopbackUpstream() as up:
        last = _post("/v1/chat/completions", body, "connection: close\r\n")
        data = await _raw(up, _post("/v1/chat/completions", body) * 2 + last)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b'"content":"echo: hi there"') == 3
    assert b"connection: close" in data.split(b"HTTP/1.1 200 OK")[-1]


async def test_chunked_request_body() -> None:
    body = json.dumps(CHAT).encode()
    half = len(body) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    async with LoopbackUpstream() as up:
        data = await _raw(up, head + chunked)
    assert b"200 OK" in data and b"echo: hi there" in data


async def test_routes_models_unknown_paths_and_bad_json() -> None:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        models = (await client.get("/v1/models")).json()
        assert models["data"][0]["id"] == "loopback"
        missing = await client.post("/v1/nothing", json={})
        assert missing.status_code == 404 and "no route" in missing.json()["error"]["message"]
        bad = await client.post("/v1/chat/completions", content=b"{nope")
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        bad_gemini = await client.post("/v1beta/models/g:generateContent", json={"contents": []})
        assert bad_gemini.status_code == 400 and bad_gemini.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_each_protocol_checks_its_own_credential() -> None:
    async with LoopbackUpstream(api_key="k1") as up, httpx.AsyncClient(base_url=up.url) as client:
        anthropic = {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        gemini = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
        cases = [
            ("/v1/chat/completions", CHAT, {"authorization": "Bearer k1"}, 401),
            ("/v1/messages", anthropic, {"x-api-key": "k1"}, 401),
            ("/v1beta/models/g:generateContent", gemini, {"x-goog-api-key": "k1"}, 400),
        ]
        for path, body, good, denied in cases:
            assert (await client.post(path, json=body)).status_code == denied
            assert (await client.post(path, json=body, headers=good)).status_code == 200
        assert (await client.post(cases[2][0], json=gemini, params={"key": "k1"})).status_code == 200


async def test_anthropic_validation_like_the_real_api() -> None:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        no_max = await client.post(
            "/v1/messages", json={"model": "c", "messages": [{"role": "user", "content": "x"}]}
        )
        assert no_max.status_code == 400 and no_max.json()["error"]["type"] == "invalid_request_error"
        system_role = {"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}
        assert "system" in (await client.post("/v1/messages", json=system_role)).json()["error"]["message"]


async def test_gemini_events_end_in_crlf_and_openai_in_lf() -> None:
    gemini = {"contents": [{"parts": [{"text": "a b"}]}]}
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        g = await client.post("/v1beta/models/g:streamGenerateContent", params={"alt": "sse"}, json=gemini)
        o = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert g.headers["content-type"] == "text/event-stream" and g.content.endswith(b"\r\n\r\n")
    assert o.content.endswith(b"data: [DONE]\n\n") and b"\r\n" not in o.content


async def test_requests_are_recorded_with_headers_but_repr_hides_credentials() -> None:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        await client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer sekrit", "x-trace": "1"}
        )
    (rec,) = up.requests
    assert rec.headers["authorization"] == "Bearer sekrit" and rec.json() == CHAT
    assert "sekrit" not in repr(rec) and "authorization" not in repr(rec) and "x-trace" in repr(rec)
    up.clear_requests()
    assert up.requests == []


def test_fault_plan_queue_then_rules_with_paths() -> None:
    plan = FaultPlan()
    slow = Fault(latency_ms=5, times=None)
    first, second = Fault(status=500), Fault(status=429, times=2, path="/messages")
    plan.add(slow, first, second)
    assert plan.pending == 3
    assert plan.take("/v1/chat/completions") is first
    assert plan.take("/v1/chat/completions") is slow  # the counted one for /messages does not match
    assert plan.take("/v1/messages") is second
    assert plan.take("/v1/messages") is second
    assert plan.take("/v1/messages") is slow and plan.pending == 0
    plan.clear()
    assert plan.take("/v1/messages") is None


def test_fault_probability_is_seeded() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed).add(Fault(status=503, times=None, probability=0.3))
        return [plan.take("/x") is not None for _ in range(200)]

    hits = pattern(1)
    assert hits == pattern(1) and 30 < sum(hits) < 90


async def test_fail_first_then_recover_over_http() -> None:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        up.faults.fail_first(2, Fault(status=502))
        codes = [(await client.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(3)]
    assert codes == [502, 502, 200]


async def test_connection_reset_sends_no_response() -> None:
    async with LoopbackUpstream() as up:
        up.faults.add(Fault(connection_reset=True))
        try:
            data = await _raw(up, _post("/v1/chat/completions", json.dumps(CHAT).encode()))
        except ConnectionResetError:
            data = b""
    assert data == b""


async def test_slow_first_byte_delays_events_not_headers() -> None:
    async with LoopbackUpstream() as up, httpx.AsyncClient(base_url=up.url) as client:
        up.faults.add(Fault(slow_first_byte_ms=150))
        started = time.perf_counter()
        async with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            headers_at = time.perf_counter() - started
            async for _ in response.aiter_lines():
                break
            first_at = time.perf_counter() - started
    assert headers_at < 0.1 <= 0.14 <= first_at


async def test_stop_closes_idle_keep_alive_connections() -> None:
    up = LoopbackUpstream()
    await up.start()
    async with httpx.AsyncClient(base_url=up.url) as client:
        await client.post("/v1/chat/completions", json=CHAT)
        assert up.open_connections == 1
        await up.stop()
        assert up.open_connections == 0
        with pytest.raises(httpx.TransportError):
            await client.post("/v1/chat/completions", json=CHAT)


def test_running_in_thread_serves_sync_clients_and_takes_faults() -> None:
    with LoopbackUpstream.running_in_thread() as up, httpx.Client(base_url=up.url) as client:
        assert (
            client.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
            == "echo: hi there"
        )
        up.faults.add(Fault(status=503))
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
        assert len(up.requests) == 2
    with pytest.raises(httpx.TransportError):
        httpx.post(up.url + "/v1/chat/completions", json=CHAT, timeout=1)


def test_command_line_server() -> None:
    env = {**os.environ, "LOOP_KEY": "cli-key"}
    cmd = [sys.executable, "-m", "modelyard.testing.upstream", "--port", "0", "--api-key-env", "LOOP_KEY"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("loopback upstream listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        denied = httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=5)
        ok = httpx.post(
            url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer cli-key"}, timeout=5
        )
        assert (denied.status_code, ok.status_code) == (401, 200)
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
