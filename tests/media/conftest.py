"""Fixtures shared by the media tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard.testing import LoopbackUpstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackUpstream]:
    """One loopback upstream (OpenAI, Anthropic and Gemini protocols) shared by a module's tests.

    A module whose tests need a fresh one each (faults, request counts) defines its own.
    """
    with LoopbackUpstream.running_in_thread() as up:
        yield up
