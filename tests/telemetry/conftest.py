"""Fixtures: engines from YAML, a throwaway PostgreSQL cluster, stores over SQLite and PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.config import Config, parse_config
from modelyard.engine import Engine
from modelyard.providers import ProviderContext

PG_INSTALL = "apt-get install -y postgresql  (Debian package; the tests start their own cluster)"

SIM = """
version: 1
models:
  tiny:   {family: slm, provider: sim, price: {input: 0.1, output: 0.2}, latency_p50_ms: 5,
           options: {output_tokens: 8}}
  medium: {family: moe, provider: sim, price: {input: 1, output: 2}, latency_p50_ms: 5,
           options: {output_tokens: 8}}
  large:  {family: llm, provider: sim, price: {input: 3, output: 15}, latency_p50_ms: 5,
           privacy: private, options: {output_tokens: 8}}
"""


def config(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), source="test.yaml", env=env)


MakeEngine = Callable[..., Engine]


@pytest.fixture
async def make_engine() -> AsyncIterator[MakeEngine]:
    engines: list[Engine] = []

    def make(text: str | Config, *, env: dict[str, str] | None = None, **kw: object) -> Engine:
        cfg = text if isinstance(text, Config) else config(text, env)
        ctx = ProviderContext(env=env) if env is not None else None
        engine = Engine(cfg, provider_context=ctx, **kw)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


# -- PostgreSQL -------------------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as the ``postgres`` system user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL cluster in a temp dir on a free port; yields a DSN for db ``postgres``."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip(f"PostgreSQL server binaries not found; install with: {PG_INSTALL}")
    root = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class StoreSpec:
    """A fresh database for one test: the YAML sink entry and the env it needs."""

    kind: str
    yaml: str
    env: dict[str, str]


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    if request.param == "sqlite":
        return StoreSpec("sqlite", f"{{kind: sqlite, path: '{tmp_path / 'records.db'}'}}", {})
    dsn = request.getfixturevalue("pg_dsn")
    schema = f"t_{uuid.uuid4().hex[:10]}"  # one schema per test: no state shared between tests
    yaml = f"{{kind: postgres, dsn_env: TEST_PG_DSN, schema: {schema}}}"
    return StoreSpec("postgres", yaml, {"TEST_PG_DSN": dsn})


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()
