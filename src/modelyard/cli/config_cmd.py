"""``modelyard validate`` and ``modelyard models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, err_console, fail, load
from modelyard.config import ModelSpec

__all__ = ["register"]


def validate(
    config: Annotated[Path, typer.Argument(help="YAML config file to check.", show_default=False)],
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if there are warnings (empty or unset variables).")
    ] = False,
) -> None:
    """Check a config file: schema, references, router cycles, provider options, environment.

    Exits 0 and prints a summary when valid: every ``${VAR}`` reference and what
    it resolved to, and every variable the config names (API keys, DSNs), with
    secrets shown as ``set (N chars)``, never their value; then warnings for
    empty or unset variables. Exits 1 with one line naming the file, key path
    and reason when not valid (or, with ``--strict``, when there are warnings).
    Nothing is started.
    """
    import os

    from modelyard.config.envreport import env_warnings, named_variables
    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError

    cfg = load(config)
    try:
        engine = Engine(cfg)
    except ModelyardError as exc:
        fail(str(exc))
    del engine
    console.print(
        f"[green]ok[/] {escape(str(config))}: {len(cfg.models)} models, {len(cfg.routers)} routers",
        highlight=False,
        soft_wrap=True,
    )
    refs = cfg.env_references
    if refs:
        say(f"environment references ({len(refs)}):")
        for ref in refs:
            say(f"  {ref.key}: {ref.expression} → {ref.shown} ({ref.how})")
    named = named_variables(cfg, os.environ)
    if named:
        say(f"variables read at run time ({len(named)}):")
        for var in named:
            say(f"  {var.key}: {var.var} → {var.shown} ({var.purpose})")
    warnings = env_warnings(cfg, os.environ)
    for line in warnings:
        err_console.print(f"warning: {cfg.source}: {line}", highlight=False, soft_wrap=True, markup=False)
    if warnings and strict:
        fail(f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''} (--strict)")


def say(line: str) -> None:
    """Print ``line`` as is: no markup, no highlighting, no wrapping."""
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def models(config: ConfigOption = None) -> None:
    """List the model registry and the routers as tables."""
    cfg = load(config)
    table = Table(title=f"models ({cfg.source})")
    for col in (
        "name",
        "family",
        "provider",
        "in → out",
        "context",
        "$/1k in",
        "$/1k out",
        "p50 ms",
        "privacy",
        "on",
    ):
        table.add_column(col, justify="right" if col.startswith(("$", "p50", "context")) else "left")
    for spec in cfg.models.values():
        provider = spec.provider + (" [yellow](SIMULATED)[/]" if spec.simulated else "")
        table.add_row(
            spec.name,
            spec.family.value,
            provider,
            _modalities(spec),
            f"{spec.context_window:,}",
            f"{spec.price.input:g}",
            f"{spec.price.output:g}",
            f"{spec.latency_p50_ms:g}",
            spec.privacy.value,
            "yes" if spec.enabled else "no",
        )
    console.print(table)
    if cfg.routers:
        routers = Table(title="routers")
        routers.add_column("name")
        routers.add_column("kind")
        routers.add_column("description")
        for name, router in cfg.routers.items():
            routers.add_row(name, router.kind, router.description)
        console.print(routers)


def _modalities(spec: ModelSpec) -> str:
    ins = ",".join(m.value for m in spec.modalities.input)
    outs = ",".join(m.value for m in spec.modalities.output)
    return f"{ins} → {outs}"


def hash_key(
    key: Annotated[
        str | None,
        typer.Argument(help="The client key to hash. Omit to read it from standard input.", show_default=False),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Name of the key (shown as tenant).")] = "client",
) -> None:
    """Print the config entry for a gateway key: its SHA-256 digest, never the key.

    Paste the printed line under ``gateway.api_keys``. Clients then send the key as
    ``Authorization: Bearer <key>``; the gateway compares digests in constant time.
    """
    import hashlib
    import sys

    secret = key if key is not None else sys.stdin.readline().strip()
    if not secret:
        fail("no key given: pass it as an argument or on standard input")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    sys.stdout.write(f"- {{name: {name}, sha256: {digest}}}\n")


def show_default() -> None:
    """Print the embedded default configuration (a starting point for your own)."""
    import sys
    from importlib import resources

    text = resources.files("modelyard.config.defaults").joinpath("default.yaml").read_text(encoding="utf-8")
    sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(models)
    app.command("hash-key")(hash_key)
    app.command("config-show")(show_default)
