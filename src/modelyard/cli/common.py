"""Helpers shared by CLI commands: loading config, printing errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from modelyard.config import Config, load_config, load_default_config
from modelyard.errors import ModelyardError

__all__ = ["ConfigOption", "console", "err_console", "fail", "key_values", "load"]

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file. Default: the embedded offline config.",
        envvar="MODELYARD_CONFIG",
        show_default=False,
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` given with ``option`` (``--input``, ``--where``...) as a dict; a later key wins.

    An item with no ``=`` or an empty key exits 1 with ``OPTION 'item': write KEY=VALUE``.
    """
    values: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} {item!r}: write KEY=VALUE")
        values[key] = value
    return values


def load(path: Path | None) -> Config:
    try:
        return load_config(path) if path is not None else load_default_config()
    except ModelyardError as exc:
        fail(str(exc))
