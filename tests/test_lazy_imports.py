"""The lazy package ``__init__`` modules (`modelyard._lazy`, PEP 562) behave like the eager ones they replaced.

For each lazy package: every name in ``__all__`` resolves, on first access, to the very object its
module defines and is then cached; an unknown name is an AttributeError naming the package; ``dir()``
lists the public names; the ``if TYPE_CHECKING:`` imports (what mypy and IDEs see) name exactly the
table's names and modules; and mypy --strict types ``from modelyard import Engine`` as the real class
while still rejecting a name that does not exist.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package → its names defined in the package itself (not in the lazy table)
LAZY = {
    "modelyard": {"__version__"},
    "modelyard.config": set(),
    "modelyard.telemetry": set(),
    "modelyard.telemetry.sinks": {"create_sink"},
}

PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    pkg = importlib.import_module({package!r})
    bound_at_import = sorted(n for n in pkg._EXPORTS if n in vars(pkg))
    wrong, not_cached = [], []
    for name in pkg.__all__:
        value = getattr(pkg, name)
        home = pkg._EXPORTS.get(name)
        if home is not None and value is not getattr(importlib.import_module(home), name):
            wrong.append(name)
        if name not in vars(pkg):
            not_cached.append(name)
    star = {{}}
    exec("from {package} import *", star)
    print(json.dumps({{"bound_at_import": bound_at_import, "wrong": wrong, "not_cached": not_cached,
                      "star": sorted(n for n in star if n != "__builtins__"), "all": sorted(pkg.__all__)}}))
    """
)


def _package(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("package", sorted(LAZY))
def test_every_public_name_resolves_lazily_to_its_modules_object(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["bound_at_import"] == [], f"{package} imported these eagerly"
    assert facts["wrong"] == [], f"{package}: not the defining module's object"
    assert facts["not_cached"] == [], f"{package}: not cached in the package's globals after first access"
    assert facts["star"] == facts["all"]  # ``from package import *`` goes through __getattr__ too


@pytest.mark.parametrize("package", sorted(LAZY))
def test_the_table_and_the_defined_names_are_all_of_all(package: str) -> None:
    pkg = _package(package)
    assert len(pkg.__all__) == len(set(pkg.__all__))
    assert set(pkg.__all__) == set(pkg._EXPORTS) | LAZY[package]
    assert sorted(dir(pkg)) == sorted(pkg.__all__)


@pytest.mark.parametrize("package", sorted(LAZY))
@pytest.mark.parametrize("name", ["Nope", "engine_", "_EXPORT"])
def test_an_unknown_name_is_an_attribute_error_naming_the_package(package: str, name: str) -> None:
    pkg = _package(package)
    with pytest.raises(AttributeError) as caught:
        getattr(pkg, name)
    assert str(caught.value) == f"module {package!r} has no attribute {name!r}"
    with pytest.raises(ImportError, match=name):  # ``from package import name``: the import system's error
        exec(f"from {package} import {name}", {})


def test_a_submodule_is_still_importable_by_from_import() -> None:
    # the import system asks __getattr__ first; its AttributeError must let it fall back to the submodule
    namespace: dict[str, object] = {}
    exec("from modelyard.config import telemetry, values", namespace)
    assert namespace["telemetry"] is sys.modules["modelyard.config.telemetry"]


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name → module of the ``from m import n as n`` lines under ``if TYPE_CHECKING:`` in the package's __init__."""
    source = Path(_package(package).__file__ or "").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.dump(stmt)
                for alias in stmt.names:
                    if alias.asname == alias.name:  # re-exported; a bare import is an annotation-only name
                        out[alias.name] = stmt.module
    return out


@pytest.mark.parametrize("package", sorted(LAZY))
def test_what_mypy_sees_is_the_table(package: str) -> None:
    pkg = _package(package)
    assert _type_checking_imports(package) == pkg._EXPORTS


MYPY_PROBE = textwrap.dedent(
    """
    from modelyard import ChatRequest, Engine, __version__
    from modelyard.config import Config
    from modelyard.telemetry import SqliteSink

    reveal_type(Engine)
    reveal_type(ChatRequest.from_text)
    reveal_type(Config)
    reveal_type(SqliteSink)
    reveal_type(__version__)
    from modelyard import Enigne
    """
)


def test_mypy_strict_sees_the_real_types_and_rejects_unknown_names(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(MYPY_PROBE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(probe)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    lines = done.stdout.splitlines()
    revealed = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type is" in line]
    assert len(revealed) == 5, done.stdout + done.stderr
    assert "-> modelyard.engine.engine.Engine" in revealed[0]
    assert "modelyard.types.request.ChatRequest" in revealed[1]
    assert "modelyard.config.schema.Config" in revealed[2]
    assert "modelyard.telemetry.sinks.sqlite.SqliteSink" in revealed[3]
    assert revealed[4] == '"str"'
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and 'Module "modelyard" has no attribute "Enigne"' in errors[0], done.stdout
