"""The gateway's telemetry routes over a real loopback server: metrics, feedback, dashboard JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.engine import Engine
from modelyard.server import create_app
from tests.server.server_harness import serve
from tests.telemetry.conftest import SIM, config

KEY_A = "sk-gw-CLIENT-a-8c1f2e3d4b"
KEY_B = "sk-gw-CLIENT-b-0a9b8c7d6e"


def yaml(tmp: Path) -> str:
    a, b = (hashlib.sha256(k.encode()).hexdigest() for k in (KEY_A, KEY_B))
    return (
        SIM
        + f"""
routers: {{default: {{kind: fixed, target: tiny}}}}
gateway:
  api_keys:
    - {{name: team-a, sha256: "{a}"}}
    - {{name: key-b, tenant: team-b, sha256: "{b}"}}
telemetry:
  sinks:
    - {{kind: jsonl, path: '{tmp / "records.jsonl"}'}}
    - {{kind: sqlite, path: '{tmp / "records.db"}'}}
  flush_interval_ms: 10
"""
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    engine = Engine(config(yaml(tmp_path)))
    with serve(create_app(engine)) as url:
        yield url, engine


def chat(url: str, key: str, text: str = "hello") -> dict:  # type: ignore[type-arg]
    body = {"model": "default", "messages": [{"role": "user", "content": text}]}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_records_carry_the_key_name_never_the_key(gateway: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = gateway
    ids = [chat(url, KEY_A)["modelyard"]["request_id"], chat(url, KEY_B)["modelyard"]["request_id"]]
    assert engine.telemetry is not None and engine.telemetry.flush()
    records = {r.request_id: r for r in engine.telemetry.recent}
    assert [records[i].tenant for i in ids] == ["team-a", "team-b"]
    for path in sorted(tmp_path.glob("records*")):
        raw = path.read_bytes()
        assert KEY_A.encode() not in raw and KEY_B.encode() not in raw


def test_metrics_endpoint(gateway: tuple[str, Engine]) -> None:
    url, _ = gateway
    chat(url, KEY_A)
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'modelyard_requests_total{endpoint="chat",family="slm",model="tiny",router="default",' in r.text
    assert KEY_A not in r.text


def test_feedback_is_stored_with_the_record(gateway: tuple[str, Engine]) -> None:
    url, engine = gateway
    rid = chat(url, KEY_A)["modelyard"]["request_id"]
    auth = {"authorization": f"Bearer {KEY_A}"}
    r = httpx.post(
        f"{url}/v1/feedback", json={"request_id": rid, "thumbs": "down", "label": "llm"}, headers=auth
    )
    assert r.status_code == 202, r.text
    r = httpx.post(f"{url}/v1/feedback", json={"request_id": rid, "score": 0.25}, headers=auth)
    assert r.status_code == 202
    assert engine.telemetry is not None and engine.telemetry.flush()
    store = engine.telemetry.store
    assert store is not None
    stored = store.get(rid)
    assert stored is not None and [f.thumbs for f in stored.feedback] == ["down", None]
    assert stored.feedback_label == "llm" and stored.feedback[0].tenant == "team-a"
    assert stored.feedback_value == pytest.approx(0.125)


def test_feedback_errors(gateway: tuple[str, Engine]) -> None:
    url, _ = gateway
    rid = chat(url, KEY_A)["modelyard"]["request_id"]
    a, b = ({"authorization": f"Bearer {k}"} for k in (KEY_A, KEY_B))
    post = lambda body, h: httpx.post(f"{url}/v1/feedback", json=body, headers=h)  # noqa: E731
    assert post({"request_id": rid, "thumbs": "up"}, {}).status_code == 401
    assert post({"request_id": "req-nope", "thumbs": "up"}, a).status_code == 404
    assert post({"request_id": rid, "thumbs": "up"}, b).status_code == 404  # another tenant's request
    bad = post({"request_id": rid, "score": 3}, a)
    assert bad.status_code == 400 and "score" in bad.json()["error"]["message"]
    assert post({"request_id": rid}, a).status_code == 400
    assert post({"thumbs": "up"}, a).status_code == 400


def test_dashboard_summary(gateway: tuple[str, Engine]) -> None:
    url, engine = gateway
    for _ in range(3):
        chat(url, KEY_A)
    assert engine.telemetry is not None and engine.telemetry.flush()
    d = httpx.get(f"{url}/dashboard/api/summary?window=300").json()
    # the first sink with rollups answers (SQLite here), though a JSONL sink is listed before it
    assert d["totals"]["requests"] == 3 and d["source"].startswith("sqlite:")
    assert [g["key"] for g in d["by_model"]] == ["tiny"] and d["by_model"][0]["family"] == "slm"
    assert sum(b["n"] for b in d["timeline"]) == 3
    assert d["latest"][0]["route"] == "default" and d["latest"][0]["simulated"] is True
    assert {s["sink"].split(":")[0] for s in d["sinks"]} == {"jsonl", "sqlite"}
    assert httpx.get(f"{url}/dashboard/api/summary?window=abc").status_code == 400
    page = httpx.get(f"{url}/dashboard")
    assert page.status_code == 200 and "modelyard" in page.text and "tiny" in page.text
    assert httpx.get(f"{url}/dashboard/static/dashboard.js").status_code == 200
