"""``modelyard demo``: the main job on the embedded default config.

Starts the gateway in-process on a free loopback port, sends one representative
request per family through it over real HTTP, and prints what was routed where,
why, how fast and at what cost.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, fail, load
from modelyard.cli.media_cmd import segmentation_demo

__all__ = ["register"]


def _demo_png() -> str:
    """A real picture (a star on a textured, noisy background) so image rows pass the gateway's checks
    and the segmentation row really segments (the embedded default's sam is the local GrabCut backend)."""
    import io

    from PIL import Image

    from modelyard.testing.shapes import scene

    buffer = io.BytesIO()
    Image.fromarray(scene(3).rgb).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@dataclass(frozen=True)
class DemoRequest:
    label: str
    text: str
    image: bool = False
    stream: bool = False
    embed: bool = False


DEMO_REQUESTS = [
    DemoRequest("short fact", "What is 2 + 2?"),
    DemoRequest("quick rewrite", "Rewrite more politely: send me the report now.", stream=True),
    DemoRequest("sentiment", "sentiment: I absolutely loved the new update, great work!"),
    DemoRequest(
        "hard reasoning",
        "Prove that there are infinitely many primes, then analyse step by step how the proof "
        "changes for primes of the form 4k+3, and compare both arguments' assumptions.",
    ),
    DemoRequest("image question", "What does this chart show about quarterly revenue?", image=True),
    DemoRequest("segmentation", "Cut the dog out of this photo.", image=True),
    DemoRequest("image generation", "Draw me a watercolor fox in a snowy forest."),
    DemoRequest("action", "Book a table for two at 8pm tomorrow and email me the confirmation."),
    DemoRequest("embedding", "modelyard routes each request to the right model", embed=True),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(req: DemoRequest, model: str) -> dict[str, Any]:
    if req.embed:
        return {"model": model, "input": [req.text]}
    content: Any = req.text
    if req.image:
        content = [
            {"type": "text", "text": req.text},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_demo_png()}"}},
        ]
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 48,
        "stream": req.stream,
    }


def demo(
    config: ConfigOption = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Router or model to send requests to.")
    ] = None,
    embed_model: Annotated[
        str, typer.Option("--embed-model", help="Model for the embedding request.")
    ] = "minilm-local",
    overlay: Annotated[
        Path, typer.Option("--overlay", help="Where the local segmentation's overlay PNG is written.")
    ] = Path("modelyard-demo-segmentation.png"),
) -> None:
    """Start the gateway on the embedded default and route one request per family through it.

    Prints, per request: the route taken, the model and family that answered, latency,
    cost, and whether the backend is a real local model or a SIMULATED one.
    """
    import httpx
    import uvicorn

    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.server import create_app

    cfg = load(config)
    target = model or cfg.gateway.default_model
    try:
        engine = Engine(cfg)
    except ModelyardError as exc:
        fail(str(exc))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    console.print(f"[bold]modelyard demo[/] — gateway on http://127.0.0.1:{port} with {cfg.source}")
    thread.start()
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=120) as client:
        _wait_ready(client, server)
        table = Table(title=f"requests routed by '{target}'", show_lines=False)
        for col in ("request", "route", "model", "family", "backend", "ms", "cost $"):
            table.add_column(
                col,
                no_wrap=True,
                min_width=len(col) + 1,
                justify="right" if col in ("ms", "cost $") else "left",
            )
        table.add_column("answer", overflow="ellipsis", no_wrap=True, max_width=44)
        with console.status("sending requests…"):
            for req in DEMO_REQUESTS:
                table.add_row(*_run_one(client, req, embed_model if req.embed else target))
            segmentation = segmentation_demo(client, overlay)  # a real local segmentation (GrabCut, not SAM)
    server.should_exit = True
    thread.join(timeout=10)
    console.width = max(console.width, 190)
    console.print(table)
    console.print(segmentation)
    console.print(
        "[dim]SIMULATED rows come from the `sim` backend (no model runs; canned/echo text); "
        "point those families at real providers in your config — see README.[/]"
    )


def _wait_ready(client: Any, server: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.started:
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except Exception:  # still starting
                pass
        time.sleep(0.05)
    fail("the gateway did not start within 60 s")


def _run_one(client: Any, req: DemoRequest, model: str) -> list[str]:
    """Send one request; read who answered from the ``modelyard`` field of the body."""
    import json

    started = time.perf_counter()
    path = "/v1/embeddings" if req.embed else "/v1/chat/completions"
    ext: dict[str, Any] = {}
    if req.stream:
        with client.stream("POST", path, json=_body(req, model)) as resp:
            status = resp.status_code
            pieces = []
            for line in resp.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                data = json.loads(line[6:])
                ext = data.get("modelyard") or ext
                for choice in data.get("choices", []):
                    pieces.append((choice.get("delta") or {}).get("content") or "")
            answer = _strip_label("".join(pieces))
    else:
        resp = client.post(path, json=_body(req, model))
        status = resp.status_code
        data = resp.json()
        ext = data.get("modelyard") or {}
        if status != 200:
            answer = data.get("error", {}).get("message", resp.text)
        elif req.embed:
            vec = data["data"][0]["embedding"]
            answer = f"{len(vec)}-dim vector [{vec[0]:.3f}, {vec[1]:.3f}, …]"
        else:
            content = data["choices"][0]["message"].get("content") or ""
            if isinstance(content, list):  # an answer with images: text and image_url parts
                content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
            answer = _strip_label(content)
            if ext.get("images"):
                answer = f"({len(ext['images'])} {ext['images'][0].get('kind', 'image')}) {answer}"
    ms = (time.perf_counter() - started) * 1000
    backend = "[yellow]SIMULATED[/]" if ext.get("simulated") else "[green]local model[/]"
    if status != 200:
        backend = f"[red]HTTP {status}[/]"
    label = req.label + (" (stream)" if req.stream else "") + (" +image" if req.image else "")
    return [
        label,
        " → ".join(ext.get("route") or []) or "-",
        str(ext.get("model", "-")),
        str(ext.get("family") or "-"),
        backend,
        f"{ms:.0f}",
        f"{float(ext.get('cost_usd') or 0):.5f}",
        " ".join(answer.split())[:60],
    ]


def _strip_label(text: str) -> str:
    """The backend column already says SIMULATED; drop the sim's own prefix to save width."""
    if text.startswith("[simulated "):
        text = text.split("] ", 1)[-1]
    return text


def register(app: typer.Typer) -> None:
    app.command()(demo)
