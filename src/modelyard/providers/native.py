"""What the local native runtime (llama.cpp) was built with, and whether this host can run it.

llama-cpp-python compiles llama.cpp from source when it is installed. Left to its
defaults, ggml builds with ``-march=native``: the library then uses every
instruction the *build* host has (AVX-512, AMX, …) and dies with ``Illegal
instruction`` on a host that lacks one of them, or where the hypervisor
advertises an extension the VM does not really allow. modelyard's ``Makefile``
therefore builds it with ``GGML_NATIVE=OFF`` and every optional x86 extension
off (`PORTABLE_CMAKE_ARGS`): the x86-64 psABI baseline (SSE2), which every
x86-64 host runs.

`runtime_build()` reads what the loaded library reports about itself
(``llama_print_system_info()``: the CPU backend lists each instruction-set
extension compiled in, ``AVX2 = 1`` …) and `check_build()` compares that with
the portable baseline and with what this host offers (`host_cpu_flags`). A
build whose CPU backend comes in several variants chosen at run time
(``GGML_BACKEND_DL`` with ``GGML_CPU_ALL_VARIANTS``: ``libggml-cpu-<variant>.so``
files) is portable too: ggml's loader checks the host before it picks one.

Nothing here imports ``llama_cpp`` at module import; `runtime_build` does, and
an import that would crash the process is not possible from the report alone
(the check reads only what the build says about itself), so ``modelyard doctor``
runs its one-token self-tests in a child process.
"""

from __future__ import annotations

import importlib.util
import platform
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ISA_FLAGS",
    "PORTABLE_BASELINE",
    "PORTABLE_CMAKE_ARGS",
    "RuntimeBuild",
    "check_build",
    "host_cpu_flags",
    "parse_system_info",
    "runtime_build",
]

#: ggml's name for each x86 instruction-set extension it reports (``ggml-cpu.cpp``,
#: ``ggml_backend_cpu_get_features``) → the Linux ``/proc/cpuinfo`` flag a host needs for it.
ISA_FLAGS: dict[str, str] = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}

#: Extensions a portable x86-64 build may compile in unconditionally: none beyond the
#: x86-64 psABI baseline (SSE/SSE2, which ggml does not list).
PORTABLE_BASELINE: frozenset[str] = frozenset()

#: The CMake arguments the Makefile builds llama.cpp with (kept here so `doctor` and the
#: tests can name them): no ``-march=native``, no optional x86 extension, no unused parts.
PORTABLE_CMAKE_ARGS: tuple[str, ...] = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_SSE42=OFF",
    "-DGGML_AVX=OFF",
    "-DGGML_AVX2=OFF",
    "-DGGML_FMA=OFF",
    "-DGGML_F16C=OFF",
    "-DGGML_BMI2=OFF",
    "-DLLAVA_BUILD=OFF",
)


@dataclass(frozen=True)
class RuntimeBuild:
    """What one llama.cpp build says about itself.

    ``backends`` maps a backend name (``CPU``) to the features it reports as ``1``;
    ``cpu_variants`` lists the ``libggml-cpu-<variant>.so`` files next to the library
    (non-empty only for a runtime-dispatched build); ``library_dir`` is where the
    shared libraries are.
    """

    version: str
    system_info: str
    backends: dict[str, frozenset[str]]
    library_dir: Path | None
    cpu_variants: tuple[str, ...] = field(default=())

    @property
    def cpu_isa(self) -> frozenset[str]:
        """The x86 extensions compiled into the CPU backend unconditionally."""
        return frozenset(f for f in self.backends.get("CPU", frozenset()) if f in ISA_FLAGS)

    @property
    def dispatched(self) -> bool:
        """True when the CPU backend is chosen at run time from several variants."""
        return len(self.cpu_variants) > 1


def parse_system_info(text: str) -> dict[str, frozenset[str]]:
    """``"CPU : SSE3 = 1 | AVX = 1 | "`` → ``{"CPU": {"SSE3", "AVX"}}``.

    Several backends may follow each other (``CPU : … | BLAS : … |``); a feature counts
    when its value is not ``0``.
    """
    backends: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in text.split("|"):
        part = raw.strip()
        if not part:
            continue
        if " : " in part:  # "CPU : SSE3 = 1": a new backend, then its first feature
            name, _, part = part.partition(" : ")
            current = backends.setdefault(name.strip(), set())
        key, _, value = part.partition("=")
        if current is not None and key.strip() and value.strip() not in ("", "0"):
            current.add(key.strip())
    return {name: frozenset(features) for name, features in backends.items()}


def runtime_build() -> RuntimeBuild | None:
    """Import llama-cpp-python and read its build report; None when it is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    variants = tuple(sorted(p.name for p in lib_dir.glob("libggml-cpu-*.so"))) if lib_dir.is_dir() else ()
    return RuntimeBuild(
        version=str(getattr(llama_cpp, "__version__", "?")),
        system_info=info.strip(),
        backends=parse_system_info(info),
        library_dir=lib_dir if lib_dir.is_dir() else None,
        cpu_variants=variants,
    )


def host_cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU flags the kernel reports for this host (``/proc/cpuinfo``); empty off Linux."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def check_build(build: RuntimeBuild, host_flags: frozenset[str], machine: str | None = None) -> list[str]:
    """Problems with running ``build`` here and on other hosts; empty when there are none.

    Two rules: (1) on x86-64, nothing beyond `PORTABLE_BASELINE` compiled in
    unconditionally, unless the CPU backend is dispatched at run time; (2) every
    extension compiled in is offered by this host (``host_flags``, when known).
    """
    problems: list[str] = []
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return problems
    if build.dispatched:
        return problems
    beyond = sorted(build.cpu_isa - PORTABLE_BASELINE)
    if beyond:
        problems.append(
            "llama.cpp was built with host-specific instructions "
            f"({', '.join(beyond)}): it crashes ('Illegal instruction') on CPUs without them. "
            "Rebuild it portably: make rebuild-local"
        )
    if host_flags:
        missing = sorted(f for f in build.cpu_isa if ISA_FLAGS[f] not in host_flags)
        if missing:
            problems.append(
                f"this CPU does not offer {', '.join(missing)}, which llama.cpp was built to use: "
                "the local model would crash here. Rebuild it portably: make rebuild-local"
            )
    return problems


def _main(argv: list[str]) -> int:
    """``python src/modelyard/providers/native.py --check``: exit 0 when the installed build is portable.

    Runs as a plain script (no package import), so the Makefile can ask before anything
    else of modelyard is installed: 1 when llama-cpp-python is missing or not portable.
    """
    build = runtime_build()
    if build is None:
        print("llama-cpp-python is not installed")
        return 1
    problems = check_build(build, host_cpu_flags())
    for problem in problems:
        print(problem)
    if "--check" not in argv:
        print(build.system_info)
    return 1 if problems else 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
