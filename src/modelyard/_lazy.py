"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names in one table, name → the module that defines
it, and hands the table to `lazy_exports`; the module ``__getattr__`` it gets
back imports that module on the name's first access and caches the value in
the package's globals, so later lookups never reach ``__getattr__`` again.
``import modelyard.telemetry.writer_child`` therefore loads telemetry's
record, wire and sink modules, not the engine, providers, aiohttp or numpy.

Each package assigns the pair under ``if not TYPE_CHECKING:`` and imports the
same names under ``if TYPE_CHECKING:``, so mypy and IDEs see the real types and
an unknown name is still a type error (a visible ``__getattr__`` would make
every misspelt import type-check as ``Any``). ``tests/test_lazy_imports.py``
checks that the two agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, object], public: list[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``(__getattr__, __dir__)``.

    ``package`` is its ``__name__``, ``exports`` maps each public name to the dotted
    module it is imported from, ``namespace`` is its ``globals()`` (the cache), and
    ``public`` its ``__all__`` (what ``dir()`` lists). ``__getattr__`` raises
    AttributeError naming the package for a name not in ``exports``; an ImportError
    of the defining module (a missing optional dependency) propagates unchanged.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__
