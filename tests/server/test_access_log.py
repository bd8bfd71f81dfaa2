"""One access-log line per request: id, status, latency, model, route, cost — never headers or bodies."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from tests.server.server_harness import Gateway

PROMPT = "my card number is 4111-1111"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modelyard.access"]


def test_one_line_per_request_with_route_and_cost(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.access")
    reply = httpx.post(
        f"{gateway.url}/v1/chat/completions?debug=1",
        json={"model": "default", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"authorization": "Bearer header-secret-value", "x-modelyard-tenant": "acme"},
    )
    assert reply.status_code == 200
    [line] = _lines(caplog)
    request_id = reply.headers["x-request-id"]
    assert re.fullmatch(
        rf"{request_id} POST /v1/chat/completions 200 \d+\.\dms model=sim-slm route=default "
        r"cost_usd=0\.\d+ simulated=true tenant=acme",
        line,
    ), line
    assert PROMPT not in line and "header-secret-value" not in line and "debug" not in line


def test_errors_are_logged_with_their_type(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.access")
    httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user"}]})
    [line] = _lines(caplog)
    assert " 404 " in line and line.endswith("error=invalid_request_error")


def test_streams_are_logged_once_with_their_cost(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.access")
    body = {"model": "default", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    httpx.post(f"{gateway.url}/v1/chat/completions", json=body)
    [line] = _lines(caplog)
    assert "model=sim-slm route=default cost_usd=0." in line
