"""The local llama.cpp runtime: fresh install time and SmolLM2 decode speed on this machine.

    .venv/bin/python bench/local_runtime.py [--install] [--save [FILE]]

Decode: SmolLM2-135M (the packaged GGUF) on the installed build, greedy, 64 tokens
after a 14-token prompt, best and median of 3 runs, 1 and 2 threads; the build's
compiled-in extensions come from `modelyard.providers.native`.

``--install`` also times a fresh install the way a new user meets it: ``git clone``
of this repository's HEAD into a temporary folder, then ``make install`` with pip's
cache turned off (``PIP_NO_CACHE_DIR=1``), reporting the wall time of the whole
install and of the portable llama.cpp compile alone (``make rebuild-local`` timed
inside the same clone, run first). Takes ~5 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import RESULTS, ROOT, Run


def decode_speed(threads: int, runs: int = 3, tokens: int = 64) -> dict[str, Any]:
    import llama_cpp

    from modelyard.providers.local_llama import default_gguf_path

    llm = llama_cpp.Llama(model_path=str(default_gguf_path()), n_ctx=512, n_threads=threads, verbose=False)
    prompt = llm.tokenize(b"Write a short story about a fox and a crow in the forest.")
    rates = []
    for _ in range(runs):
        start, n = time.perf_counter(), 0
        for _token in llm.generate(prompt, temp=0.0, reset=True):
            n += 1
            if n >= tokens:
                break
        rates.append(n / (time.perf_counter() - start))
    llm.close()
    return {
        "threads": threads,
        "tokens": tokens,
        "tokens_per_s_best": max(rates),
        "tokens_per_s_median": statistics.median(rates),
    }


def fresh_install() -> dict[str, Any]:
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1"}
    with tempfile.TemporaryDirectory(prefix="modelyard-fresh-") as tmp:
        clone = Path(tmp) / "modelyard"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        start = time.perf_counter()
        subprocess.run(["make", "-C", str(clone), "install"], env=env, check=True, capture_output=True)
        total = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(["make", "-C", str(clone), "rebuild-local"], env=env, check=True, capture_output=True)
        compile_only = time.perf_counter() - start
    return {"make_install_s": round(total, 1), "llama_cpp_compile_s": round(compile_only, 1)}


def main(install: bool, save: Path | None) -> None:
    from modelyard.providers.native import runtime_build

    run = Run("local_runtime", save, {"install": install})
    build = runtime_build()
    results: dict[str, Any] = {
        "build": None if build is None else {"version": build.version, "system_info": build.system_info},
        "decode": [decode_speed(t) for t in (1, 2)],
    }
    for row in results["decode"]:
        print(f"SmolLM2 decode, {row['threads']} thread(s): {row['tokens_per_s_median']:.1f} tokens/s (median of 3)")
    if install:
        results["fresh_install"] = fresh_install()
        print(
            f"fresh make install: {results['fresh_install']['make_install_s']} s; "
            f"llama.cpp compile alone: {results['fresh_install']['llama_cpp_compile_s']} s"
        )
    if (path := run.save(results)) is not None:
        print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install", action="store_true", help="also time a fresh clone's make install (~5 min)")
    parser.add_argument("--save", type=Path, nargs="?", const=RESULTS / "local_runtime.json", help="write JSON")
    args = parser.parse_args()
    main(args.install, args.save)
