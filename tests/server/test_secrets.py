"""An upstream API key from the environment never reaches clients, logs, reprs or /v1/models.

The key is real in every sense that matters here: the front gateway's
``openai`` provider sends it over loopback to a second gateway that only
answers when it gets exactly that key, and to an upstream that echoes the key
back in its error messages, as some vendors do.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.server.server_harness import Gateway, running, serve

SECRET = "sk-live-7f3a9c2e5b8d41f0a6c3e9b2d7f4a1c8"
USER = [{"role": "user", "content": "hello"}]


def _echoing_upstream() -> Starlette:
    """An upstream that quotes the presented key in its error, like a careless vendor."""

    async def reject(request: Request) -> JSONResponse:
        presented = request.headers.get("authorization", "")
        status = 401 if "models" not in request.url.path else 500
        body = {"error": {"message": f"Incorrect API key provided: {presented}", "type": "invalid_request"}}
        return JSONResponse(body, status_code=status)

    return Starlette(routes=[Route("/v1/{rest:path}", reject, methods=["POST"])])


@pytest.fixture
def front(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", SECRET)
    upstream_config = f"""
version: 1
gateway:
  api_keys: [{{name: front, sha256: "{hashlib.sha256(SECRET.encode()).hexdigest()}"}}]
models:
  upstream-slm: {{family: slm, provider: sim}}
"""
    with running(upstream_config) as upstream, serve(_echoing_upstream()) as echo:
        front_config = f"""
version: 1
models:
  good:
    family: slm
    provider: openai
    upstream_model: upstream-slm
    base_url: {upstream.url}/v1
    api_key_env: FAKE_UPSTREAM_KEY
  echo:
    family: llm
    provider: openai
    base_url: {echo}/v1
    api_key_env: FAKE_UPSTREAM_KEY
  dead:
    family: moe
    provider: openai
    base_url: http://127.0.0.1:9/v1
    api_key_env: FAKE_UPSTREAM_KEY
routers:
  default: {{kind: fixed, target: good}}
"""
        with running(front_config) as gateway:
            yield gateway


def test_the_key_never_leaks(front: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with front.client() as client:
        ok = client.chat.completions.with_raw_response.create(model="default", messages=USER)  # type: ignore[arg-type]
        seen += [ok.text, str(ok.headers)]
        assert (
            ok.parse().choices[0].message.content == "[simulated upstream-slm] echo: hello"
        )  # the key worked
        streamed = list(client.chat.completions.create(model="good", messages=USER, stream=True))  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).endswith("hello")
        for model in ("echo", "dead"):
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
            assert caught.value.status_code == 502
            seen += [caught.value.response.text, str(caught.value.response.headers), str(caught.value)]
            with pytest.raises(openai.APIStatusError) as streamed_error:
                list(client.chat.completions.create(model=model, messages=USER, stream=True))  # type: ignore[arg-type]
            seen.append(streamed_error.value.response.text)
        with pytest.raises(openai.APIStatusError) as embed_error:
            client.embeddings.create(model="echo", input="x")
        seen.append(embed_error.value.response.text)
    seen.append(httpx.get(f"{front.url}/v1/models").text)
    seen.append(httpx.get(f"{front.url}/v1/models/echo").text)
    seen += [repr(front.engine.config), repr(front.engine), *map(repr, front.engine.providers.values())]
    seen += [trace.model_dump_json() for trace in front.traces.items]
    seen += [record.getMessage() + (record.exc_text or "") for record in caplog.records]

    assert any("Incorrect API key" in text for text in seen)  # the echo really happened
    assert len(front.traces.items) == 7
    for text in seen:
        assert SECRET not in text
        assert SECRET[8:24] not in text


def test_models_show_no_urls_or_env_names(front: Gateway) -> None:
    listing = httpx.get(f"{front.url}/v1/models").text
    assert "127.0.0.1" not in listing
    assert "FAKE_UPSTREAM_KEY" not in listing
    assert "base_url" not in listing
