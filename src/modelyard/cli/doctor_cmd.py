"""``modelyard doctor``: can this machine run the local models, and will the build run elsewhere?

Checks, in order: Python and platform; the CPU features the kernel reports; what
the local llama.cpp runtime was built with (`modelyard.providers.native`); then a
self-test of every local model in the config — one generated token for a chat
model, one embedding for an embedding model — each in a child process, so that
a build that dies with ``Illegal instruction`` is reported instead of killing
the doctor. Exits 1 when any check fails, with what to do about it.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, err_console, load

__all__ = ["Check", "register", "self_test"]

#: Seconds one local model's self-test may take (load + one token), child process included.
SELF_TEST_TIMEOUT_S = 180.0


@dataclass
class Check:
    """One line of the doctor's report: ``ok`` False means exit 1."""

    name: str
    ok: bool
    detail: str


def _python_checks() -> list[Check]:
    version = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return [
        Check("python", ok, f"{version} ({sys.executable})" + ("" if ok else "; modelyard needs Python ≥ 3.11")),
        Check("platform", True, f"{platform.platform()} {platform.machine()}, {os.cpu_count()} CPUs"),
    ]


def _cpu_checks() -> list[Check]:
    from modelyard.providers.native import ISA_FLAGS, host_cpu_flags

    flags = host_cpu_flags()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    seen = [name for name, flag in ISA_FLAGS.items() if flag in flags]
    detail = f"{model or 'unknown CPU'}; extensions: {', '.join(seen) or 'baseline only'}"
    return [Check("cpu", True, detail if flags else "CPU flags unknown on this platform")]


def _runtime_checks() -> list[Check]:
    from modelyard.providers.native import check_build, host_cpu_flags, runtime_build

    try:
        build = runtime_build()
    except Exception as exc:  # a broken install: say so, do not crash the doctor
        return [Check("llama.cpp", False, f"cannot import llama_cpp: {exc}; reinstall: make rebuild-local")]
    if build is None:
        return [Check("llama.cpp", False, "llama-cpp-python is not installed; install it: make install")]
    isa = ", ".join(sorted(build.cpu_isa)) or "x86-64 baseline only"
    how = f"runtime-dispatched CPU variants: {', '.join(build.cpu_variants)}" if build.dispatched else isa
    problems = check_build(build, host_cpu_flags())
    checks = [Check("llama.cpp build", not problems, f"llama-cpp-python {build.version}; compiled in: {how}")]
    checks += [Check("llama.cpp build", False, p) for p in problems]
    return checks


def self_test(config: Path | None, model: str) -> dict[str, object]:
    """Load ``model`` from ``config`` (None: the embedded default) and make one tiny call.

    Returns ``{"ok": bool, "ms": float, "detail": str}``. Runs in the doctor's child process.
    """
    import asyncio

    from modelyard.config import load_config, load_default_config
    from modelyard.providers import create_provider
    from modelyard.types import ChatRequest, Modality

    cfg = load_config(config) if config is not None else load_default_config()
    spec = cfg.models[model]
    provider = create_provider(spec)

    async def once() -> str:
        try:
            if Modality.EMBEDDING in spec.modalities.output:
                vectors = await provider.embed(["modelyard doctor"], timeout=SELF_TEST_TIMEOUT_S)
                return f"1 embedding of {len(vectors.vectors[0])} dims"
            response = await provider.chat(ChatRequest.from_text("Say OK.", max_tokens=1), timeout=SELF_TEST_TIMEOUT_S)
            return f"1 token: {response.text!r}"
        finally:
            await provider.aclose()

    start = time.perf_counter()
    try:
        detail = asyncio.run(once())
    except Exception as exc:
        return {"ok": False, "ms": (time.perf_counter() - start) * 1000, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "ms": (time.perf_counter() - start) * 1000, "detail": detail}


def _model_checks(config: Path | None) -> list[Check]:
    cfg = load(config)
    checks: list[Check] = []
    for name, spec in cfg.models.items():
        if not spec.enabled or not _runs_locally(spec.provider):
            continue
        argv = [sys.executable, "-m", "modelyard.cli.doctor_cmd", name]
        if config is not None:
            argv.append(str(config))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=SELF_TEST_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            checks.append(Check(f"model {name}", False, f"self-test took over {SELF_TEST_TIMEOUT_S:.0f} s"))
            continue
        checks.append(_judge(name, done.returncode, done.stdout, done.stderr))
    if not checks:
        checks.append(Check("models", True, "no local models in this config"))
    return checks


def _runs_locally(kind: str) -> bool:
    """Whether the provider class registered for ``kind`` runs in-process (``Provider.local``)."""
    import importlib

    from modelyard.providers import PROVIDERS

    module, _, cls = PROVIDERS[kind].partition(":")
    return bool(getattr(getattr(importlib.import_module(module), cls), "local", False))


def _judge(name: str, returncode: int, stdout: str, stderr: str) -> Check:
    """Turn a self-test child's exit into a check line."""
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        why = " (Illegal instruction: the build uses CPU instructions this host does not allow)" * (sig == "SIGILL")
        return Check(f"model {name}", False, f"self-test crashed with {sig}{why}; rebuild: make rebuild-local")
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return Check(f"model {name}", False, f"self-test exited {returncode}: {tail}")
    return Check(f"model {name}", bool(result["ok"]), f"{result['detail']} in {float(result['ms']):.0f} ms")


def doctor(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    skip_models: Annotated[bool, typer.Option("--skip-models", help="Do not self-test the local models.")] = False,
) -> None:
    """Check that this machine can run modelyard's local models, and that the build is portable.

    Prints Python and platform, the CPU extensions the kernel reports, what the local
    llama.cpp runtime was compiled with (it must use nothing beyond the x86-64 baseline
    unless it picks CPU variants at run time), and a one-token self-test of each local
    model in the config, each in a child process. Exits 1 when a check fails, saying
    how to fix it (usually: make rebuild-local).
    """
    checks = _python_checks() + _cpu_checks() + _runtime_checks()
    if not skip_models:
        checks += _model_checks(config)
    failed = [c for c in checks if not c.ok]
    if as_json:
        console.print_json(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        table = Table(title="modelyard doctor", show_lines=False)
        table.add_column("check")
        table.add_column("", justify="center")
        table.add_column("detail", overflow="fold")
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else "[bold red]FAIL[/]", c.detail)
        console.print(table)
    if failed:
        err_console.print(f"[bold red]doctor: {len(failed)} check(s) failed[/]", highlight=False)
        raise typer.Exit(1)
    if not as_json:
        console.print("[green]doctor: all checks passed[/]")


def register(app: typer.Typer) -> None:
    app.command(name="doctor")(doctor)


if __name__ == "__main__":  # the self-test child: python -m modelyard.cli.doctor_cmd MODEL [CONFIG]
    print(json.dumps(self_test(Path(sys.argv[2]) if len(sys.argv) > 2 else None, sys.argv[1])))
