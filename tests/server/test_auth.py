"""Gateway API keys: 401 without a configured key; the key, not the client, decides the tenant."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.server.server_harness import SIM_CONFIG, Gateway, running

USER = [{"role": "user", "content": "hello"}]
ALPHA = "gw-alpha-0123456789"
BETA = "gw-beta-9876543210"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYED = (
    SIM_CONFIG
    + f"""
gateway:
  api_keys:
    - {{name: alpha, sha256: "{_digest(ALPHA)}", tenant: acme}}
    - {{name: beta, sha256: "{_digest(BETA)}"}}
"""
)


@pytest.fixture(scope="module")
def keyed() -> Iterator[Gateway]:
    with running(KEYED) as gw:
        yield gw


def test_missing_key_is_401(keyed: Gateway) -> None:
    reply = httpx.post(f"{keyed.url}/v1/chat/completions", json={"model": "refused", "messages": USER})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"
    assert "missing" in reply.json()["error"]["message"]
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert all(t.requested_model != "refused" for t in keyed.traces.items)


def test_wrong_key_is_401_for_the_sdk(keyed: Gateway) -> None:
    with keyed.client(api_key="gw-alpha-wrong") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="default", messages=USER)  # type: ignore[arg-type]
        assert caught.value.status_code == 401
        assert "invalid gateway API key" in caught.value.response.json()["error"]["message"]
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_right_key_answers_and_sets_the_tenant_over_the_clients_claim(keyed: Gateway) -> None:
    with keyed.client(api_key=ALPHA) as client:
        answer = client.chat.completions.create(
            model="default",
            messages=USER,  # type: ignore[arg-type]
            extra_headers={"x-modelyard-tenant": "someone-else"},
            extra_body={"modelyard": {"tenant": "someone-else"}},
        )
    assert answer.model == "sim-slm"
    assert keyed.traces.items[-1].tenant == "acme"


def test_key_without_tenant_uses_its_name(keyed: Gateway) -> None:
    with keyed.client(api_key=BETA) as client:
        client.embeddings.create(model="sim-embed", input="x")
        list(client.chat.completions.create(model="default", messages=USER, stream=True))  # type: ignore[arg-type]
    assert [t.tenant for t in keyed.traces.items[-2:]] == ["beta", "beta"]


def test_health_is_open_without_a_key(keyed: Gateway) -> None:
    assert httpx.get(f"{keyed.url}/healthz").status_code == 200


def test_no_keys_means_auth_off(gateway: Gateway) -> None:
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "default", "messages": USER})
    assert reply.status_code == 200
