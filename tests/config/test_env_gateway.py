"""The issue's scenario over real sockets: a base_url from ``${VAR:-default}`` reaches the upstream.

Before, ``UPSTREAM_URL=""`` made ``base_url`` empty, ``validate`` said ok and
every request failed. Now set-but-empty takes the default, like the shell, and
a reference that can only give an empty URL fails at load.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard.errors import ConfigError
from modelyard.testing import LoopbackUpstream
from tests.server.server_harness import running

KEY = "sk-loop-0123456789"


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream.running_in_thread(api_key=KEY) as up:
        yield up


def config(base_url: str) -> str:
    return f"""
models:
  m:
    family: llm
    provider: openai
    base_url: "{base_url}"
    api_key_env: LOOP_KEY
routers:
  default: {{kind: fixed, target: m}}
"""


@pytest.mark.parametrize(
    ("template", "env"),
    [
        ("${UPSTREAM_URL:-{loop}}", {"UPSTREAM_URL": ""}),  # the example
        ("${UPSTREAM_URL:-{loop}}", {}),
        ("${UPSTREAM_URL:-http://127.0.0.1:9/v1}", {"UPSTREAM_URL": "{loop}"}),
        ("${UPSTREAM_URL-{loop}}", {}),
        ("http://${UPSTREAM_HOST:-127.0.0.1}:${UPSTREAM_PORT}/v1", {"UPSTREAM_HOST": "", "UPSTREAM_PORT": "{port}"}),
        ("${UPSTREAM_URL:?set UPSTREAM_URL}", {"UPSTREAM_URL": "{loop}"}),
    ],
)
def test_chat_reaches_the_upstream(upstream: LoopbackUpstream, template: str, env: dict[str, str]) -> None:
    loop = upstream.url + "/v1"
    port = upstream.url.rsplit(":", 1)[1]
    env = {k: v.replace("{loop}", loop).replace("{port}", port) for k, v in env.items()}
    upstream.clear_requests()
    with running(config(template.replace("{loop}", loop)), env={**env, "LOOP_KEY": KEY}) as gw:
        answer = gw.client().chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    ("template", "env", "error"),
    [
        ("${UPSTREAM_URL}", {"UPSTREAM_URL": ""}, "UPSTREAM_URL is set but empty"),
        ("${UPSTREAM_URL-http://127.0.0.1:9/v1}", {"UPSTREAM_URL": ""}, "UPSTREAM_URL is set but empty"),
        ("${UPSTREAM_URL:?point it at vLLM}", {"UPSTREAM_URL": ""}, "UPSTREAM_URL is empty: point it at vLLM"),
    ],
)
def test_an_empty_url_fails_before_any_port_is_bound(template: str, env: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError) as info, running(config(template), env=env):
        pass
    assert str(info.value).startswith("test.yaml: models.m.base_url: ")
    assert error in str(info.value)
