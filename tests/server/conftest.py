"""A real gateway on a loopback port, and the official OpenAI SDK as its client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import openai
import pytest

from tests.resilience.modes import mode  # noqa: F401  (the fixture: a test taking ``mode`` runs streamed and not)
from tests.server.server_harness import SIM_CONFIG, Gateway, running


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., Gateway]]:
    """Start gateways for YAML configs; all stopped at the end of the test."""
    with ExitStack() as stack:

        def make(yaml_text: str = SIM_CONFIG, *, env: dict[str, str] | None = None) -> Gateway:
            return stack.enter_context(running(yaml_text, env=env))

        yield make


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """The sim gateway, shared by a module's tests (they read only the newest trace)."""
    with running() as gw:
        yield gw


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    with gateway.client() as c:
        yield c
