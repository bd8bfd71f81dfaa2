"""The three production examples served by a real gateway, with the official OpenAI SDK as client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from modelyard.config import load_config
from modelyard.engine import Engine
from modelyard.server import create_app
from tests.server.server_harness import serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def gateways() -> Iterator[dict[str, openai.OpenAI]]:
    clients: dict[str, openai.OpenAI] = {}
    contexts = []
    try:
        for name in ("coding-assistant", "tiered-privacy", "content-pipeline"):
            ctx = serve(create_app(Engine(load_config(EXAMPLES / f"{name}.yaml"))))
            url = ctx.__enter__()
            contexts.append(ctx)
            clients[name] = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        yield clients
    finally:
        for client in clients.values():
            client.close()
        for ctx in reversed(contexts):
            ctx.__exit__(None, None, None)


def ask(client: openai.OpenAI, text: str, **hints: Any) -> tuple[str, dict[str, Any]]:
    raw = client.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": text}],
        max_tokens=32,
        extra_body={"modelyard": hints} if hints else None,
    )
    completion = raw.parse()
    extension = completion.model_extra["modelyard"] if completion.model_extra else {}
    assert raw.headers["x-modelyard-model"] == completion.model == extension["model"]
    return completion.model, extension


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("Rename `tmp` to `buffer` in this function", "code-small"),
        ("Write a function that merges two sorted lists", "code-mid"),
        ("Should we split the billing service out of the monolith?", "code-top"),
    ],
)
def test_coding_assistant_routes_by_scope_of_change(gateways: dict[str, openai.OpenAI], text: str, model: str) -> None:
    answered, ext = ask(gateways["coding-assistant"], text)
    assert answered == model
    assert ext["route"] == ["code"] and ext["simulated"] is True


def test_tiered_privacy_keeps_private_data_private_and_needs_consent(gateways: dict[str, openai.OpenAI]) -> None:
    client = gateways["tiered-privacy"]
    answered, _ = ask(client, "Draft a reply to my landlord about the broken heater")
    assert answered == "private-cloud"
    answered, _ = ask(client, "What are the latest results on protein folding?", consent_third_party=True)
    assert answered == "third-party"
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "What are the latest results on protein folding?", privacy="third_party", consent_third_party=False)
    body = info.value.body
    assert isinstance(body, dict) and body.get("code") == "consent_required"


def test_tiered_privacy_streams_from_the_private_tier(gateways: dict[str, openai.OpenAI]) -> None:
    stream = gateways["tiered-privacy"].chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Draft a reply to my landlord about the broken heater"}],
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("[simulated private-cloud]")


def test_content_pipeline_cheap_writer_then_council_for_critical_items(gateways: dict[str, openai.OpenAI]) -> None:
    client = gateways["content-pipeline"]
    cheap, cheap_ext = ask(client, "Two Sum, Python, concise")
    assert cheap == "writer-cheap" and cheap_ext["route"] == ["content", "cheap-draft"]
    critical, critical_ext = ask(client, "[quality-critical] Dijkstra, Python, tutorial style")
    assert critical == "writer-top" and critical_ext["route"] == ["content", "council-review"]
    assert critical_ext["cost_usd"] > 10 * cheap_ext["cost_usd"]
    assert critical_ext["attempts"] > 2  # writer, reviewers, revision
