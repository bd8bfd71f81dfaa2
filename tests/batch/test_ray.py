"""The Ray backend on a real local Ray cluster: a head node and a worker node started with ``ray start``.

Skipped when Ray is not installed — except under CI=true, where Ray is part of
the dev install and these tests must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.batch import RunOptions
from modelyard.batch.backends.ray import RayBackend, ray_available
from modelyard.batch.checkpoint import Checkpoint
from modelyard.testing.ray_cluster import RayCluster, ray_cluster
from tests.batch.conftest import SIM_BATCH, SLOW_BATCH, chat_line, read_lines, write_lines
from tests.batch.test_kill import kill_and_resume
from tests.conftest import make_config

if not ray_available():
    if os.environ.get("CI") == "true":
        raise RuntimeError("Ray is not installed but CI=true: install the dev extra (it includes ray)")
    pytest.skip("Ray is not installed (pip install 'modelyard[ray]')", allow_module_level=True)

RAY_KILL_ITEMS = int(os.environ.get("MODELYARD_BATCH_RAY_KILL_ITEMS", "30000"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster(worker_nodes=1) as c:
        yield c


@pytest.mark.timeout(1800)
def test_sigkill_of_the_coordinator_on_ray_loses_nothing_and_charges_once(tmp_path: Path) -> None:
    # Its own cluster: a driver killed with 9 leaves cleanup behind on the nodes, which the
    # other tests' placement must not depend on.
    with ray_cluster(worker_nodes=1) as own:
        kill_and_resume(tmp_path, RAY_KILL_ITEMS, "--ray", own.address, "--workers", "2")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("workers", [4])
async def test_budget_with_several_workers_never_exceeds_the_cap(
    cluster: RayCluster, tmp_path: Path, workers: int
) -> None:
    from modelyard.batch import BatchPaths, run_batch

    config = make_config(SIM_BATCH)
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"[hard] item number {i}") for i in range(600)])
    cap = 1.0
    backend = RayBackend(config, address=cluster.address, workers=workers, concurrency=64)
    result = await run_batch(config, BatchPaths.beside(src, tmp_path / "out.jsonl"), backend,
                             RunOptions(budget_usd=cap), reserve_calls=1.0)
    s = result.stats
    assert len({node for node, _ in backend.placement}) == 2  # the workers spread over both nodes
    assert len({pid for _, pid in backend.placement}) == workers
    assert s.stopped == "budget" and 0 < s.done < 600
    cp = Checkpoint(result.paths.checkpoint)
    try:
        recorded = cp.totals().spent_usd
    finally:
        cp.close()
    assert recorded == pytest.approx(s.spent_usd) and recorded <= cap
    answered = sum(line["response"]["body"]["modelyard"]["cost_usd"] for line in read_lines(result.paths.output))
    assert answered == pytest.approx(recorded) and answered <= cap
    assert cap - recorded < 8 * recorded / s.done  # stopped close to the cap, not early


@pytest.mark.timeout(600)
async def test_a_worker_killed_mid_run_loses_no_item_and_its_holds_count_as_spent(
    cluster: RayCluster, tmp_path: Path
) -> None:
    import asyncio
    import signal

    from modelyard.batch import BatchPaths, run_batch

    config = make_config(SLOW_BATCH)
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"item number {i}") for i in range(1500)])
    backend = RayBackend(config, address=cluster.address, workers=2, concurrency=32)
    job = asyncio.create_task(run_batch(config, BatchPaths.beside(src, tmp_path / "out.jsonl"), backend,
                                        RunOptions(budget_usd=100.0)))
    cp = Checkpoint(tmp_path / "out.checkpoint.sqlite")
    while not backend.placement or cp.totals().done < 300:  # noqa: ASYNC110 — polling another task's writes
        await asyncio.sleep(0.05)
    os.kill(backend.placement[0][1], signal.SIGKILL)
    result = await job
    t = cp.totals()
    cp.close()
    assert backend.lost_chunks >= 1
    assert (t.done, t.running, t.pending) == (1500, 0, 0)
    assert t.interrupted >= 1 and t.lost_nano > 0  # the lost chunk's holds were counted as spent
    assert len({line["custom_id"] for line in read_lines(result.paths.output)}) == 1500


@pytest.mark.timeout(600)
def test_ray_client_address_runs_the_batch(cluster: RayCluster, tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(SIM_BATCH)
    src = write_lines(tmp_path / "in.jsonl", [chat_line(f"i{i}", f"item {i}") for i in range(200)])
    run = subprocess.run([sys.executable, "-m", "modelyard.cli", "batch", "run", str(src), "--out",
                          str(tmp_path / "out.jsonl"), "-c", str(cfg), "--ray", cluster.client_address,
                          "--workers", "2", "--no-progress"], capture_output=True, text=True, timeout=500)
    assert run.returncode == 0, run.stderr[-3000:]
    text = " ".join(run.stdout.split())
    assert "200 done, 0 failed" in text and "ray (2 workers" in text
    assert len(read_lines(tmp_path / "out.jsonl")) == 200
