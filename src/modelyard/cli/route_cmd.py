"""``modelyard route``: show the routing decision for one request."""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, fail, load

__all__ = ["register"]


def _image_part(path: Path) -> dict[str, object]:
    if not path.is_file():
        fail(f"--image {path}: no such file")
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    if not mime.startswith("image/"):
        fail(f"--image {path}: not an image (guessed type {mime})")
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def route(
    text: Annotated[str, typer.Argument(help="The user message to route.", show_default=False)],
    config: ConfigOption = None,
    router: Annotated[
        str | None,
        typer.Option(
            "--router", "-r", help="Router or model to start from (default: gateway.default_model)."
        ),
    ] = None,
    image: Annotated[
        list[Path] | None, typer.Option("--image", "-i", help="Attach an image file (repeatable).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", "-e", help="Print the path, reasons, profile and candidates.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Decision as JSON.")] = False,
    call: Annotated[
        bool, typer.Option("--call", help="Also call the chosen model and print its answer.")
    ] = False,
    system: Annotated[str | None, typer.Option("--system", help="A system message.")] = None,
    wants_action: Annotated[
        bool | None, typer.Option("--wants-action/--no-action", help="Hint: the user wants something done.")
    ] = None,
    pixel_mask: Annotated[
        bool | None, typer.Option("--pixel-mask", help="Hint: a pixel mask is needed.")
    ] = None,
    generate_image: Annotated[
        bool | None, typer.Option("--generate-image", help="Hint: the user wants an image generated.")
    ] = None,
    privacy: Annotated[
        str | None,
        typer.Option(
            "--privacy", help="Hint: most exposed privacy tier allowed (device, private, third_party)."
        ),
    ] = None,
    consent: Annotated[
        bool | None, typer.Option("--consent/--no-consent", help="Hint: user consents to third-party models.")
    ] = None,
    latency_budget_ms: Annotated[
        float | None, typer.Option("--latency-budget-ms", help="Hint: total latency budget.")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option("--max-cost-usd", help="Hint: cost cap for this request.")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Hint: tenant id.")] = None,
) -> None:
    """Decide which model answers TEXT, and say why — without calling it unless --call.

    Examples:

      modelyard route "What is the capital of France?" --explain

      modelyard route "Cut the dog out of this photo" --image dog.png --explain

      modelyard route "Book me a table for two at 8pm" --json
    """
    from pydantic import ValidationError

    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.types import ChatRequest

    cfg = load(config)
    if router is not None and router.startswith("pipeline:"):  # a pipeline: its stage graph (docs/pipelines.md)
        from modelyard.pipeline import draw

        bare = router.removeprefix("pipeline:")
        if bare not in cfg.pipelines:
            fail(f"no pipeline {router!r} in {cfg.source}")
        console.print(draw(bare, cfg.pipelines[bare]), markup=False, highlight=False, soft_wrap=True)
        return
    content: object = text
    if image:
        content = [{"type": "text", "text": text}, *(_image_part(p) for p in image)]
    messages: list[dict[str, object]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    hints = {
        k: v
        for k, v in {
            "wants_action": wants_action,
            "needs_pixel_mask": pixel_mask,
            "is_generative_image": generate_image,
            "privacy": privacy,
            "consent_third_party": consent,
            "latency_budget_ms": latency_budget_ms,
            "max_cost_usd": max_cost_usd,
            "tenant": tenant,
        }.items()
        if v is not None
    }
    try:
        request = ChatRequest.model_validate(
            {"model": router or cfg.gateway.default_model, "messages": messages, "hints": hints}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")

    async def run() -> None:
        async with Engine(cfg) as engine:
            if call:
                completion = await engine.chat(request)
                decision = completion.decision
            else:
                decision = await engine.route(request)
            if as_json:
                out = decision.model_dump(mode="json", exclude_none=True)
                if call:
                    out["answer"] = {
                        "text": completion.text,
                        "model": completion.model,
                        "cost_usd": completion.cost_usd,
                        "simulated": completion.response.simulated,
                    }
                console.print_json(json.dumps(out))
                return
            _print_decision(decision, explain)
            if call:
                sim = " [yellow](SIMULATED backend)[/]" if completion.response.simulated else ""
                console.print(
                    Panel(
                        completion.text or "(no text)",
                        title=f"{completion.model}{sim} · ${completion.cost_usd:.6f} · "
                        f"{completion.trace.elapsed_ms():.0f} ms",
                    )
                )

    try:
        asyncio.run(run())
    except ModelyardError as exc:
        fail(str(exc))


def _print_decision(decision: object, explain: bool) -> None:
    from modelyard.types import Decision

    assert isinstance(decision, Decision)
    family = decision.family.value if decision.family else "?"
    console.print(
        f"[bold]{decision.model or decision.target.name}[/] (family [cyan]{family}[/]) "
        f"via {' → '.join(decision.path) or decision.router}",
        highlight=False,
    )
    if not explain:
        console.print(f"reason: {decision.reason}", highlight=False)
        return
    table = Table(show_header=False, box=None)
    table.add_row("path", " → ".join(decision.path) or decision.router)
    table.add_row("reason", decision.reason)
    if decision.confidence is not None:
        table.add_row("confidence", f"{decision.confidence:.2f}")
    if decision.profile is not None:
        p = decision.profile
        table.add_row(
            "profile",
            f"output={p.output_space}  modality={p.modality}  latency={p.latency_budget}  "
            f"volume={p.volume}  precision={p.precision}",
        )
    console.print(table)
    if decision.candidates:
        cands = Table(title="candidates")
        cands.add_column("")
        cands.add_column("name")
        cands.add_column("why")
        for c in decision.candidates:
            cands.add_row("[green]✓[/]" if c.accepted else "[red]✗[/]", c.name, c.reason)
        console.print(cands)


def register(app: typer.Typer) -> None:
    app.command()(route)
