"""``gateway.gc``: serving processes freeze their start-up objects and collect less often; nothing else is touched."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelyard.engine import Engine
from modelyard.errors import ConfigError
from modelyard.server.app import create_app
from tests.conftest import make_config
from tests.server.serve_process import serving

SIM = """
version: 1
{gateway}
models:
  echo: {{family: slm, provider: sim}}
routers: {{default: {{kind: fixed, target: echo}}}}
"""

_PROBE = """
import gc, json, sys
from modelyard.config.gateway import ServerGC
from modelyard.server.gctune import tune
before = gc.get_threshold()
tune(ServerGC.model_validate(json.loads(sys.argv[1])))
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize(
    ("settings", "threshold", "frozen"),
    [
        ({}, [7000, 10, 10], True),  # the defaults
        ({"freeze": False}, [7000, 10, 10], False),
        ({"threshold": [5000, 15, 30]}, [5000, 15, 30], True),
        ({"freeze": False, "threshold": None}, None, False),  # Python's own settings kept
    ],
)
def test_tune_applies_exactly_the_settings(settings: dict[str, object], threshold: list[int] | None,
                                           frozen: bool) -> None:
    run = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(settings)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["after"] == (threshold if threshold is not None else got["before"])
    assert (got["frozen"] > 1000) is frozen  # a real process has thousands of objects alive after imports


async def test_an_app_that_is_not_serving_leaves_the_collector_alone() -> None:
    """Tests and programs embedding the app keep their interpreter's collector as it was."""
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    app = create_app(Engine(make_config(SIM.format(gateway=""))))
    async with app.router.lifespan_context(app):
        assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


@pytest.mark.parametrize(
    ("gateway", "where"),
    [
        ("gateway: {gc: {threshold: [0, 10, 10]}}", "gateway.gc.threshold"),
        ("gateway: {gc: {threshold: [700, 10]}}", "gateway.gc.threshold"),
        ("gateway: {gc: {freeze: sometimes}}", "gateway.gc.freeze"),
        ("gateway: {gc: {young: 5}}", "gateway.gc.young"),
    ],
)
def test_bad_gc_settings_fail_at_load_naming_the_key(gateway: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(SIM.format(gateway=gateway))
    assert where in str(err.value)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_modelyard_serve_tunes_each_worker(tmp_path: Path, workers: str) -> None:
    config = SIM.format(gateway="gateway: {gc: {threshold: [12345, 11, 12]}}")
    with serving(tmp_path, config, "--log-level", "debug", "--workers", workers, within_s=60) as served:
        reply = httpx.post(f"{served.base}/v1/chat/completions",
                           json={"messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert reply.status_code == 200
        log = tmp_path / "serve.log"  # log lines below WARNING are written in batches, ≤ 0.2 s late
        deadline = time.monotonic() + 30
        while log.read_text().count("garbage collector:") < int(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
    lines = [line for line in served.output.splitlines() if "garbage collector:" in line]
    assert len(lines) == int(workers), served.output[-3000:]
    assert all("thresholds (12345, 11, 12)" in line for line in lines)
