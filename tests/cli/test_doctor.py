"""``modelyard doctor`` and the portable-build rule it enforces (issue 9, class 1).

The field report: on an Intel Xeon advertising AVX-512 and AMX, a llama.cpp built with
host-native flags reported ``AMX_INT8 = 1 | AVX512 = 1`` and died with ``Illegal
instruction`` at the first token. These tests check the rule on reported strings (that
report among the rows), on the build actually installed here (its report and its machine
code), and the doctor end to end.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.cli.doctor_cmd import _judge
from modelyard.providers.native import (
    PORTABLE_CMAKE_ARGS,
    RuntimeBuild,
    check_build,
    host_cpu_flags,
    parse_system_info,
    runtime_build,
)

ROOT = Path(__file__).resolve().parents[2]
FIELD_REPORT = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
XEON_FLAGS = frozenset(
    [
        "sse2",
        "pni",
        "ssse3",
        "avx",
        "avx2",
        "f16c",
        "fma",
        "bmi2",
        "avx512f",
        "avx512vbmi",
        "avx512_vnni",
        "avx512_bf16",
        "amx_int8",
    ]
)
OLD_HOST = frozenset(["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt"])  # no AVX at all


def _build(info: str, variants: tuple[str, ...] = ()) -> RuntimeBuild:
    return RuntimeBuild("test", info, parse_system_info(info), None, variants)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("CPU : LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ", {"CPU": {"LLAMAFILE", "OPENMP", "REPACK"}}),
        (FIELD_REPORT, {"CPU": set(re.findall(r"(\w+) = 1", FIELD_REPORT))}),
        ("CPU : AVX = 1 | AVX2 = 0 | BLAS : ACCELERATE = 1 | ", {"CPU": {"AVX"}, "BLAS": {"ACCELERATE"}}),
        ("CPU : SVE_CNT = 16 | ", {"CPU": {"SVE_CNT"}}),
        ("", {}),
    ],
)
def test_parse_system_info(info: str, expected: dict[str, set[str]]) -> None:
    assert {k: set(v) for k, v in parse_system_info(info).items()} == expected


@pytest.mark.parametrize(
    ("info", "variants", "host", "machine", "problems"),
    [
        # the field report: native build on a Xeon with AVX-512/AMX → not portable (it runs there, nowhere else)
        (FIELD_REPORT, (), XEON_FLAGS, "x86_64", ["host-specific instructions"]),
        # the same build on a host without those extensions: both rules broken
        (FIELD_REPORT, (), OLD_HOST, "x86_64", ["host-specific instructions", "does not offer"]),
        # an AVX2-only build (GGML_NATIVE=OFF with ggml's defaults) is still not baseline
        ("CPU : AVX = 1 | AVX2 = 1 | FMA = 1 | F16C = 1 | ", (), XEON_FLAGS, "x86_64", ["host-specific"]),
        # the portable baseline build: nothing to say, on any host
        ("CPU : LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ", (), OLD_HOST, "x86_64", []),
        ("CPU : LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ", (), frozenset(), "x86_64", []),
        # runtime-dispatched variants: ggml's loader checks the host itself
        (FIELD_REPORT, ("libggml-cpu-haswell.so", "libggml-cpu-x64.so"), OLD_HOST, "x86_64", []),
        # not x86-64: the rule does not apply
        ("CPU : NEON = 1 | ARM_FMA = 1 | ", (), frozenset(), "aarch64", []),
    ],
)
def test_check_build(
    info: str, variants: tuple[str, ...], host: frozenset[str], machine: str, problems: list[str]
) -> None:
    found = check_build(_build(info, variants), host, machine)
    assert len(found) == len(problems), found
    for text, expected in zip(found, problems, strict=True):
        assert expected in text and "make rebuild-local" in text


def test_host_cpu_flags_reads_the_flags_line() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 avx2\n\nprocessor\t: 1\nflags\t: fpu\n"
    assert host_cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2"}
    assert host_cpu_flags("no flags here") == frozenset()


def test_makefile_builds_llama_with_the_portable_arguments() -> None:
    makefile = (ROOT / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if ln.startswith("LLAMA_CMAKE_ARGS"))
    assert tuple(line.partition(":=")[2].split()) == PORTABLE_CMAKE_ARGS
    wheel = makefile[makefile.index("\nLLAMA_WHEEL :=") :].split("\n#")[0]
    assert "$(LLAMA_CMAKE_ARGS)" in wheel
    assert "--no-cache-dir" in wheel and "--no-binary llama-cpp-python" in wheel  # never a cached wheel
    for target in ("\n$(STAMP):", "\nrebuild-local:"):
        recipe = makefile[makefile.index(target) :].split("\n\n")[0]
        assert "$(LLAMA_WHEEL)" in recipe, target
    code = [ln for ln in makefile.splitlines() if not ln.lstrip().startswith("#")]
    assert not any("march=native" in ln or "GGML_NATIVE=ON" in ln for ln in code)


def _installed() -> RuntimeBuild:
    build = runtime_build()
    if build is None:
        pytest.skip("llama-cpp-python is not installed")
    return build


def test_installed_build_reports_nothing_beyond_the_baseline() -> None:
    build = _installed()
    assert check_build(build, host_cpu_flags(), "x86_64") == [], build.system_info
    if not build.dispatched:
        assert build.cpu_isa == frozenset(), build.system_info


def test_installed_build_machine_code_uses_no_avx_registers() -> None:
    """Read the shared libraries' machine code: no ymm/zmm (AVX, AVX-512) or tmm (AMX) register anywhere.

    The self-report covers only ggml's CPU kernels; this covers everything compiled (llama, ggml-base …).
    """
    build = _installed()
    if build.dispatched:
        pytest.skip("runtime-dispatched variants legitimately contain AVX code")
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    assert build.library_dir is not None
    libraries = sorted(build.library_dir.glob("*.so*"))
    assert libraries, f"no shared libraries in {build.library_dir}"
    for library in libraries:
        code = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True)
        assert code.returncode == 0, code.stderr
        wide = re.findall(r"%(?:ymm|zmm|tmm)\d+", code.stdout)
        assert not wide, f"{library.name} uses {sorted(set(wide))[:5]} (built for this host only)"


@pytest.mark.parametrize(
    ("argv", "ok", "words"),
    [
        (["-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"], False, ["SIGILL", "Illegal instruction"]),
        (["-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], False, ["SIGSEGV"]),
        (["-c", "import sys; sys.exit('llama.cpp cannot load model.gguf')"], False, ["exited 1", "cannot load"]),
        (["-c", 'print(\'{"ok": true, "ms": 12.5, "detail": "1 token"}\')'], True, ["1 token", "12 ms"]),
        (["-c", 'print(\'{"ok": false, "ms": 3, "detail": "ModelLoadError: gone"}\')'], False, ["gone"]),
    ],
)
def test_a_self_test_child_is_judged_by_how_it_ended(argv: list[str], ok: bool, words: list[str]) -> None:
    """A real child process per row: a crash by signal is reported, never fatal to the doctor."""
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    check = _judge("m", done.returncode, done.stdout, done.stderr)
    assert check.ok is ok
    for word in words:
        assert word in check.detail
    if not ok and done.returncode < 0:
        assert -done.returncode in (signal.SIGILL, signal.SIGSEGV)


def test_doctor_passes_on_this_machine_with_the_embedded_default() -> None:
    _installed()
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "doctor", "--json"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert names["model smollm2-local"]["detail"].startswith("1 token")
    assert names["model minilm-local"]["detail"].startswith("1 embedding of 384 dims")
    assert "baseline" in names["llama.cpp build"]["detail"]


def test_doctor_fails_clearly_when_a_local_model_cannot_load(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(
        "models:\n"
        "  tiny:\n"
        "    family: slm\n"
        "    provider: llama-cpp\n"
        f"    options: {{model_path: {tmp_path / 'missing.gguf'}}}\n"
        "gateway: {default_model: tiny}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "model tiny" in done.stdout and "FAIL" in done.stdout
    assert "missing.gguf" in " ".join(done.stdout.split())
