"""Both vector backends behind one fixture: the embedded default and a real Chroma server (``chroma run``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelyard.config.retrieval import RetrievalSettings
from modelyard.retrieval import Collections
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMA_INSTALL = "pip install -e '.[dev]' (chromadb provides `chroma run`), or set MODELYARD_CHROMA"


def chroma_binary() -> str | None:
    for candidate in (
        os.environ.get("MODELYARD_CHROMA"),
        str(Path(sys.executable).parent / "chroma"),  # the dev extra installs chromadb into the venv
        shutil.which("chroma"),
        str(ROOT / ".venv-chroma/bin/chroma"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway `chroma run` on a free port with its data in a temp dir; yields its URL."""
    binary = chroma_binary()
    if binary is None:
        pytest.skip(f"Chroma server not found; install it with: {CHROMA_INSTALL}")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma")
    proc = subprocess.Popen(
        [binary, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(params=["embedded", "chroma"])
def collections(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Collections]:
    if request.param == "chroma":
        url = request.getfixturevalue("chroma_server")
        settings = RetrievalSettings(backend="chroma", chroma_url=url)
    else:
        settings = RetrievalSettings(backend="embedded", path=str(tmp_path / "index"))
    opened = Collections(settings)
    yield opened
    opened.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Collection names unique per test (the Chroma server lives for the session)."""
    stamp = f"{os.getpid()}-{time.monotonic_ns() % 10**9}"
    return lambda base: f"{base}-{stamp}"
