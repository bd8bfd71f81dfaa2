"""Helpers for batch tests: write input files, run a job in-process, read output lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelyard.batch import BatchPaths, BatchResult, LocalBackend, RunOptions, run_batch
from modelyard.config import Config

# Every model here is SIMULATED (provider: sim): no model runs.
SIM_BATCH = """
version: 1
gateway: {default_model: route}
models:
  cheap:
    family: slm
    provider: sim
    price: {input: 1.0, output: 2.0}
    options: {output_tokens: 10}
  top:
    family: llm
    provider: sim
    price: {input: 10.0, output: 20.0}
    options: {output_tokens: 10}
  vectors:
    family: mlm
    provider: sim
    price: {input: 0.5}
    modalities: {input: [text], output: [embedding]}
routers:
  route:
    kind: rules
    rules:
      - {name: hard, when: {last_user_prefix: "[hard]"}, target: top}
    default: cheap
"""

# the same, with the cheap model answering after 20 ms (so a run is still going when a test acts on it)
SLOW_BATCH = SIM_BATCH.replace(
    "options: {output_tokens: 10}\n  top", "options: {output_tokens: 10, latency_ms: 20}\n  top"
)


def chat_line(cid: str, text: str, model: str = "route", **body: Any) -> dict[str, Any]:
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 10, **body}}


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def run_local(
    config: Config, tmp: Path, input: Path, *, options: RunOptions | None = None, concurrency: int = 8,
    caps: dict[str, int] | None = None, **kw: Any,
) -> BatchResult:
    paths = BatchPaths.beside(input, tmp / "out.jsonl")
    backend = LocalBackend(config, concurrency=concurrency, caps=caps)
    return await run_batch(config, paths, backend, options, **kw)
