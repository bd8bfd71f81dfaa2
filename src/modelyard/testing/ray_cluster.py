"""A real local Ray cluster for tests and benchmarks: a head node and worker nodes, as ``ray start`` processes.

Everything runs on 127.0.0.1 with one CPU per node, in a short temporary
directory (Ray's socket paths must stay short). Teardown ends exactly the
processes this cluster started — found by its temporary directory in their
command lines, and their children — never every Ray process on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RayCluster", "ray_cluster"]

RAY = str(Path(sys.executable).parent / "ray")


@dataclass
class RayCluster:
    """A running cluster: ``address`` is the GCS address (``HOST:PORT``) to pass to ``--ray``;
    ``client_address`` is its Ray Client endpoint (``ray://HOST:PORT``)."""

    address: str
    temp_dir: str
    client_address: str = ""

    def pids(self) -> set[int]:
        """The processes of this cluster (those naming its temporary directory) and their children."""
        own = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if self.temp_dir.encode() in (entry / "cmdline").read_bytes():
                    own.add(int(entry.name))
        children = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid in own:
                    children.add(int(entry.name))
        return (own | children) - {os.getpid()}


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port >= 20000:  # Ray's worker ports default to 10002–19999
            return port
    raise RuntimeError("no free port above 20000")


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


_COUNT_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
deadline = time.monotonic() + float(sys.argv[3])
while sum(1 for n in ray.nodes() if n.get("Alive")) < int(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.2)
print(sum(1 for n in ray.nodes() if n.get("Alive")))
"""


def _wait_for_nodes(address: str, nodes: int, env: dict[str, str], timeout_s: float = 60.0) -> None:
    """Block until ``nodes`` nodes are alive in the cluster: ``ray start`` can return before its node registers."""
    done = subprocess.run([sys.executable, "-c", _COUNT_NODES, address, str(nodes), str(timeout_s)], env=env,
                          capture_output=True, text=True, timeout=timeout_s + 120)
    alive = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
    if alive != [str(nodes)]:
        raise RuntimeError(f"Ray cluster at {address}: {alive or 'no count'} of {nodes} nodes alive after "
                           f"{timeout_s:.0f} s\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def ray_cluster(worker_nodes: int = 1, cpus_per_node: int = 1) -> Iterator[RayCluster]:
    """Start a head and ``worker_nodes`` worker nodes on 127.0.0.1; end exactly their processes on exit."""
    temp_dir = tempfile.mkdtemp(prefix="myray", dir="/tmp")
    port, client_port = _free_port(), _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    cluster = RayCluster(f"127.0.0.1:{port}", temp_dir, f"ray://127.0.0.1:{client_port}")
    common = [
        f"--num-cpus={cpus_per_node}", f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1", "--disable-usage-stats"
    ]
    try:
        head = [RAY, "start", "--head", f"--port={port}", f"--ray-client-server-port={client_port}"]
        _run([*head, "--include-dashboard=false", *common], env)
        for _ in range(worker_nodes):
            _run([RAY, "start", f"--address={cluster.address}", *common], env)
        _wait_for_nodes(cluster.address, 1 + worker_nodes, env)
        yield cluster
    finally:
        pids = cluster.pids()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 10
            while sig == signal.SIGTERM and time.monotonic() < deadline and any(Path(f"/proc/{p}").exists()
                                                                              for p in pids):
                time.sleep(0.2)
        shutil.rmtree(temp_dir, ignore_errors=True)
