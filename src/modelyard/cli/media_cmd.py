"""``modelyard image`` and ``modelyard segment``: the image families from the command line.

Both run the request through the engine in this process (routers, fallbacks,
breakers, telemetry as configured), like a gateway request would. With the
embedded default, ``segment`` really segments (classical GrabCut, not SAM) and
``image`` answers with the SIMULATED ``lcm`` model's placeholder.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from modelyard.cli.common import ConfigOption, console, fail, load

if TYPE_CHECKING:
    import httpx

__all__ = ["register", "segmentation_demo"]


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _numbers(text: str, count: tuple[int, ...], what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        fail(f"{what} {text!r}: expected comma-separated numbers")
    if len(values) not in count:
        fail(f"{what} {text!r}: expected {' or '.join(map(str, count))} numbers")
    return values


def image(
    prompt: Annotated[str, typer.Argument(help="What to draw.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write (several: out-1.png, out-2.png…).")],
    config: ConfigOption = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model, family or router.")] = "lcm",
    n: Annotated[int, typer.Option("--n", min=1, max=10)] = 1,
    size: Annotated[str, typer.Option("--size")] = "512x512",
    steps: Annotated[int | None, typer.Option("--steps", help="Few-step models: denoising steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
) -> None:
    """Generate an image (OpenAI Images API shape) and write it as PNG."""
    from modelyard.types import ChatRequest, GenerationTask, Message

    try:
        task = GenerationTask(prompt=prompt, n=n, size=size, steps=steps, seed=seed)
    except ValidationError as exc:
        fail(_first(exc))
    request = ChatRequest(model=model, messages=[Message(role="user", content=prompt)], image_task=task)
    response = _run(config, request)
    images = [i for i in response.images if i.kind == "image" and i.b64]
    if not images:
        fail(f"{response.model} answered without an image: {response.text[:200]}")
    paths = [out] if len(images) == 1 else [out.with_stem(f"{out.stem}-{i + 1}") for i in range(len(images))]
    for path, item in zip(paths, images, strict=True):
        assert item.b64 is not None
        path.write_bytes(base64.b64decode(item.b64))
    label = " [bold yellow](SIMULATED: a placeholder image)[/]" if response.simulated else ""
    console.print(f"{response.model}{label} → {', '.join(map(str, paths))} (${response.cost_usd:.6f})")


def segment(
    image_path: Annotated[Path, typer.Argument(metavar="IMAGE", help="PNG, JPEG, WebP or GIF.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mask PNG to write (white on the object).")],
    box: Annotated[list[str] | None, typer.Option("--box", "-b", help="x0,y0,x1,y1 in pixels (repeatable).")] = None,
    point: Annotated[list[str] | None, typer.Option("--point", "-p", help="x,y[,positive 1|0] (repeatable).")] = None,
    overlay: Annotated[
        Path | None, typer.Option("--overlay", help="Also write the image with the mask over it.")
    ] = None,
    config: ConfigOption = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model, family or router.")] = "sam",
) -> None:
    """Segment the object in a box (or at clicks) and write the mask PNG (and an overlay)."""
    import numpy as np

    from modelyard.media.decode import ImageChecks, decode_image
    from modelyard.media.masks import decode_rle, mask_png, overlay_png
    from modelyard.types import ChatRequest, ImagePart, ImageURL, Message, PointPrompt, SegmentationTask, TextPart

    if not image_path.is_file():
        fail(f"{image_path}: no such file")
    from modelyard.errors import RequestError

    try:
        decoded = decode_image(image_path.read_bytes(), checks=ImageChecks(), param=str(image_path))
    except RequestError as exc:
        fail(str(exc))
    boxes = [_numbers(b, (4,), "--box") for b in box or []]
    points = [_numbers(p, (2, 3), "--point") for p in point or []]
    try:
        task = SegmentationTask(
            boxes=boxes,  # type: ignore[arg-type]
            points=[PointPrompt(x=p[0], y=p[1], positive=bool(p[2]) if len(p) == 3 else True) for p in points],
        )
    except ValidationError as exc:
        fail(_first(exc))
    content = [TextPart(text="segment the prompted object"), ImagePart(image_url=ImageURL(url=decoded.data_url()))]
    request = ChatRequest(model=model, messages=[Message(role="user", content=content)], image_task=task)
    response = _run(config, request)
    segments = [i.segment for i in response.images if i.segment is not None]
    if not segments:
        fail(f"{response.model} answered without a mask: {response.text[:200]}")
    masks = [decode_rle(s.rle) for s in segments]
    union = np.logical_or.reduce(masks)
    out.write_bytes(mask_png(union))
    if overlay is not None:
        overlay.write_bytes(overlay_png(decoded.rgb(), masks, [b for b in boxes]))
    backend = response.images[0].label or response.model
    for i, s in enumerate(segments):
        console.print(f"mask {i}: {s.area} px, bbox {s.bbox}, score {s.score:.2f}")
    written = f"{out}" + (f" and {overlay}" if overlay is not None else "")
    console.print(f"{response.model} ({backend}) → {written}")


def _run(config: Path | None, request: Any) -> Any:
    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError

    async def go() -> Any:
        async with Engine(load(config)) as engine:
            done = await engine.chat(request)
            return done.response

    try:
        return asyncio.run(go())
    except ModelyardError as exc:
        fail(str(exc))


def segmentation_demo(client: httpx.Client, overlay: Path) -> str:
    """The demo's real local segmentation: a synthetic scene through ``/v1/segmentations``; writes the overlay."""
    import io

    from PIL import Image

    from modelyard.media.masks import decode_rle, overlay_png
    from modelyard.testing.shapes import scene

    sc = scene(3)
    buffer = io.BytesIO()
    Image.fromarray(sc.rgb).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = client.post("/v1/segmentations", json={"model": "sam", "image": url, "boxes": [sc.box]})
    if response.status_code != 200:
        return f"segmentation failed: HTTP {response.status_code} {response.text[:200]}"
    body = response.json()
    [instance] = body["instances"]
    mask = decode_rle({"size": instance["mask"]["size"], "counts": instance["mask"]["counts"]})
    overlay.write_bytes(overlay_png(sc.rgb, [mask], [sc.box]))
    iou = float((mask & sc.mask).sum() / (mask | sc.mask).sum())
    return (
        f"segmentation by {body['model']} ({body['backend']}): {instance['area']} px, "
        f"IoU {iou:.3f} against the known mask; overlay written to {overlay}"
    )


def register(app: typer.Typer) -> None:
    app.command()(image)
    app.command()(segment)
