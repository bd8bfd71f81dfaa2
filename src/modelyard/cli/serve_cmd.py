"""``modelyard serve``: the OpenAI-compatible gateway under uvicorn."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.common import ConfigOption, fail

__all__ = ["register"]


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def log_config(level: str) -> dict[str, Any]:
    """One plain line per record on stderr; uvicorn's own access log is off (ours has more).

    Lines below WARNING (the access log) are written in batches, at most 0.2 s late;
    warnings and errors at once (`modelyard.server.logsink`).
    """
    handler = {
        "class": "modelyard.server.logsink.BatchingStreamHandler",
        "formatter": "plain",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {
                "()": "modelyard.server.logsink.SecondsFormatter",
                "fmt": "%(asctime)s %(levelname)-7s %(name)s %(message)s",
            }
        },
        "handlers": {"stderr": handler},
        "loggers": {
            "modelyard": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
        },
    }


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address. Default: gateway.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: gateway.port.")] = None,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="Log level.")] = LogLevel.info,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the OpenAI-compatible API: chat completions, embeddings, models, /healthz, files and batches.

    The configuration is loaded and every model built before the port is
    bound, so a bad config exits 2 with one line naming the file, key and reason.
    """
    import logging.config

    import uvicorn

    from modelyard.batch.gateway import batch_app
    from modelyard.config import load_config, load_default_config
    from modelyard.engine import Engine
    from modelyard.errors import ModelyardError
    from modelyard.server.app import CONFIG_ENV

    logging.config.dictConfig(log_config(log_level.value))
    # Our format uses none of these; skipping them saves a stack walk and two lookups per line
    # (the "Optimization" section of Python's logging HOWTO).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]  # documented there: no caller lookup
    try:
        cfg = load_config(config) if config is not None else load_default_config()
        engine = Engine(cfg)
    except ModelyardError as exc:
        fail(str(exc), code=2)
    bind_host = host or cfg.gateway.host
    bind_port = cfg.gateway.port if port is None else port
    common: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_config": log_config(log_level.value),
        "access_log": False,
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "http": "httptools" if _has("httptools") else "h11",
        "lifespan": "on",
        "server_header": False,
        # The gateway's own drain (server/drain.py) already waited for requests in flight, up to
        # gateway.drain_s or until a second signal; uvicorn must not wait again without limit for
        # whatever is still open then: after 1 s it cancels it and runs the app's shutdown.
        "timeout_graceful_shutdown": 1,
    }
    if workers == 1:
        uvicorn.run(batch_app(engine, serving=True), **common)  # the gateway plus /v1/files and /v1/batches
        return
    # Each worker process builds its own engine from the same file.
    del engine
    if cfg.resilience.state.backend == "memory":
        logging.getLogger("modelyard").warning(
            "%d workers with resilience.state.backend=memory: each worker keeps its own breakers, "
            "rate limits and budgets, so caps are multiplied by %d; use backend: redis to share them",
            workers,
            workers,
        )
    if config is not None:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    else:
        os.environ.pop(CONFIG_ENV, None)
    uvicorn.run("modelyard.batch.gateway:batch_app_from_env", factory=True, workers=workers, **common)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def register(app: typer.Typer) -> None:
    app.command()(serve)
