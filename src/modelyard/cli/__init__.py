"""The ``modelyard`` command line: one module per command group.

Each module defines ``register(app)``; `COMMANDS` lists them in help order.
Heavy imports happen inside the commands, so ``modelyard --help`` is instant.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["COMMANDS", "app", "main"]

app = typer.Typer(
    name="modelyard",
    help=(
        "modelyard — a routing layer for production AI.\n\n"
        "Decides, per request, which model family answers (SLM, LLM, MoE, MLM, VLM, LAM, SAM, LCM), "
        "and serves it all behind an OpenAI-compatible gateway. With no --config, commands use the "
        "embedded default configuration, which runs offline."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

#: command modules under modelyard.cli, in the order `--help` lists them.
COMMANDS: list[str] = [
    "demo_cmd",
    "serve_cmd",
    "route_cmd",
    "media_cmd",
    "config_cmd",
    "train_cmd",
    "eval_cmd",
    "calibrate_cmd",
    "report_cmd",
    "batch_cmd",
    "pipeline_cmd",
    "index_cmd",
    "doctor_cmd",
]


def _register_all() -> None:
    for name in COMMANDS:
        module = importlib.import_module(f"modelyard.cli.{name}")
        module.register(app)


def _setup_logging() -> None:
    import logging

    from rich.logging import RichHandler

    from modelyard.cli.common import err_console

    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )


def main() -> None:
    _setup_logging()
    _register_all()
    app()
