"""``modelyard index add|query|delete``: vector collections on the configured backend (``retrieval:``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.common import ConfigOption, console, fail, key_values, load

__all__ = ["register"]

index_app = typer.Typer(help="Vector collections: add files (JSONL, Markdown, text), query them.", no_args_is_help=True)


async def _embed(engine: Any, texts: list[str]) -> list[list[float]]:
    from modelyard.types import EmbeddingRequest

    vectors: list[list[float]] = []
    model = engine.config.retrieval.embed_model
    for start in range(0, len(texts), 64):
        response, _, _ = await engine.embed(EmbeddingRequest(model=model, input=texts[start : start + 64]))
        vectors.extend(list(v) for v in response.vectors)
    return vectors


@index_app.command("add")
def add(
    collection: Annotated[str, typer.Argument(help="Collection name.", show_default=False)],
    files: Annotated[list[Path], typer.Argument(help="JSONL, Markdown or text files.", show_default=False)],
    config: ConfigOption = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", "-m", help="Metadata KEY=VALUE for every chunk.")] = None,
) -> None:
    """Chunk FILES, embed the chunks with the MLM (retrieval.embed_model) and add them to COLLECTION."""
    import numpy as np

    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.retrieval import Collections, chunk_file

    cfg = load(config)
    extra: dict[str, str | int | float | bool] = dict(key_values(meta, "--meta"))
    chunks = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        try:
            chunks += chunk_file(
                path, max_chars=cfg.retrieval.chunk_chars, overlap=cfg.retrieval.chunk_overlap, extra=extra
            )
        except ValueError as exc:
            fail(str(exc))
    if not chunks:
        fail("no text found in the given files")

    async def run() -> list[list[float]]:
        async with Engine(cfg) as engine:
            return await _embed(engine, [c.text for c in chunks])

    try:
        vectors = asyncio.run(run())
    except ModelyardError as exc:
        fail(str(exc))
    collections = Collections(cfg.retrieval)
    try:
        index = collections.open(collection)
        index.add(
            [c.id for c in chunks],
            np.asarray(vectors, dtype=np.float32),
            [c.text for c in chunks],
            [c.metadata for c in chunks],
        )
        console.print(
            f"{collection}: added {len(chunks)} chunks from {len(files)} file(s); {index.count()} in all "
            f"({cfg.retrieval.backend})",
            highlight=False,
        )
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
    finally:
        collections.close()


@index_app.command("query")
def query(
    collection: Annotated[str, typer.Argument(help="Collection name.", show_default=False)],
    text: Annotated[str, typer.Argument(help="Query text.", show_default=False)],
    config: ConfigOption = None,
    k: Annotated[int, typer.Option("-k", help="How many chunks.")] = 5,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Metadata filter KEY=VALUE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """The K chunks of COLLECTION closest to TEXT (cosine), optionally filtered by metadata."""
    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.retrieval import Collections

    cfg = load(config)
    collections = Collections(cfg.retrieval)
    if not collections.exists(collection):
        fail(f"no collection {collection!r} under {collections.root}; add files with: modelyard index add")

    async def run() -> list[list[float]]:
        async with Engine(cfg) as engine:
            return await _embed(engine, [text])

    try:
        vector = asyncio.run(run())[0]
        hits = asyncio.run(collections.search(collection, vector, k, key_values(where, "--where")))
    except (ModelyardError, ValueError, LookupError, RuntimeError) as exc:
        fail(str(exc))
    finally:
        collections.close()
    if as_json:
        console.print_json(json.dumps(hits))
        return
    table = Table(title=f"{collection}: {text}")
    for column in ("score", "id", "metadata", "text"):
        table.add_column(column)
    for hit in hits:
        table.add_row(f"{hit['score']:.3f}", hit["id"], json.dumps(hit["metadata"]), hit["text"][:160])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
