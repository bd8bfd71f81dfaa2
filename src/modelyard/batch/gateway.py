"""OpenAI-compatible ``/v1/files`` and ``/v1/batches`` on the gateway, run by the same batch runner.

The official SDK's workflow works unchanged: ``files.create(purpose="batch")``,
``batches.create``, ``batches.retrieve`` (poll), ``files.content(output_file_id)``,
``batches.list``, ``batches.cancel``. A batch runs in the background on the
gateway's own engine (its routers, cascades and resilience), resumably (a
checkpoint per batch), at most ``concurrency`` items at once. Plug the routes
in with ``create_app(engine, routes=BatchAPI(engine).routes())`` — `batch_app`
does exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.batch.backends.local import LocalBackend
from modelyard.batch.checkpoint import Checkpoint
from modelyard.batch.dispatch import ENDPOINTS
from modelyard.batch.format import BatchInputError
from modelyard.batch.job import BatchPaths, run_batch
from modelyard.batch.runner import RunOptions
from modelyard.batch.store import BatchStore, public
from modelyard.engine import Engine
from modelyard.errors import RequestError, UnknownModelError
from modelyard.secrets import SecretScrubber
from modelyard.server.jsonio import dumps, loads

__all__ = ["BATCH_CONCURRENCY_ENV", "BatchAPI", "batch_app", "batch_app_from_env"]

log = logging.getLogger("modelyard.batch")

#: items in flight per gateway batch (default 16)
BATCH_CONCURRENCY_ENV = "MODELYARD_BATCH_CONCURRENCY"
_MAX_UPLOAD = 200 * 1024 * 1024
_PURPOSES = ("batch", "batch_output", "user_data", "assistants", "fine-tune", "vision")


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


class _NotFound(UnknownModelError):
    def __init__(self, kind: str, ident: str) -> None:
        RequestError.__init__(self, f"no {kind} with id {ident!r}", param="id", code="not_found")


class BatchAPI:
    """The endpoints and the background jobs for one engine and one store."""

    def __init__(self, engine: Engine, store: BatchStore | None = None, *, concurrency: int | None = None) -> None:
        self.engine = engine
        self.store = store or BatchStore()
        self.concurrency = concurrency or int(os.environ.get(BATCH_CONCURRENCY_ENV, "16"))
        self.redact = SecretScrubber.from_env(
            (s.api_key_env for s in engine.config.models.values()), engine.provider_context.env
        )
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._cancel: dict[str, asyncio.Event] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", self.retrieve_file, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/batches", self.create_batch, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve_batch, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel_batch, methods=["POST"]),
        ]

    # -- files ---------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > _MAX_UPLOAD:
            raise RequestError(f"the upload is larger than {_MAX_UPLOAD} bytes", code="file_too_large")
        async with request.form(max_part_size=_MAX_UPLOAD) as form:
            purpose, upload = form.get("purpose"), form.get("file")
            if not isinstance(purpose, str) or purpose not in _PURPOSES:
                raise RequestError(f"purpose must be one of {', '.join(_PURPOSES)}", param="purpose",
                                   code="invalid_value")
            if upload is None or isinstance(upload, str):
                raise RequestError("file is required (multipart form field 'file')", param="file")
            data = await upload.read()
            name = upload.filename or "upload.jsonl"
        body = await asyncio.to_thread(self.store.add_file, data, name, purpose)
        return _json(body)

    async def list_files(self, request: Request) -> Response:
        files = self.store.list_files(request.query_params.get("purpose"))
        return _json({"object": "list", "data": files, "has_more": False})

    def _file(self, file_id: str) -> dict[str, Any]:
        body = self.store.get_file(file_id)
        if body is None:
            raise _NotFound("file", file_id)
        return body

    async def retrieve_file(self, request: Request) -> Response:
        return _json(self._file(request.path_params["file_id"]))

    async def delete_file(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        self._file(file_id)
        self.store.delete_file(file_id)
        return _json({"id": file_id, "object": "file", "deleted": True})

    async def file_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        self._file(file_id)
        data = await asyncio.to_thread(self.store.file_path(file_id).read_bytes)
        return Response(data, media_type="application/jsonl")

    # -- batches -------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        try:
            body = loads(await request.body())
        except ValueError:
            raise RequestError("the request body is not valid JSON", code="invalid_json") from None
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object", code="invalid_json")
        input_file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
        window = body.get("completion_window", "24h")
        if not isinstance(input_file_id, str):
            raise RequestError("input_file_id is required", param="input_file_id")
        if endpoint not in ENDPOINTS:
            raise RequestError(f"endpoint must be one of {', '.join(sorted(ENDPOINTS))}", param="endpoint",
                               code="invalid_value")
        if window != "24h":
            raise RequestError("completion_window must be '24h'", param="completion_window", code="invalid_value")
        file = self._file(input_file_id)
        if file["purpose"] != "batch":
            raise RequestError(f"file {input_file_id!r} has purpose {file['purpose']!r}, not 'batch'",
                               param="input_file_id")
        batch = self.store.new_batch(input_file_id, endpoint, window, body.get("metadata"), owner=self.owner)
        self._start(batch["id"])
        return _json(public(batch))

    def _start(self, batch_id: str) -> None:
        cancel = asyncio.Event()
        self._cancel[batch_id] = cancel
        self._jobs[batch_id] = asyncio.create_task(self._run(batch_id, cancel), name=batch_id)

    async def resume(self) -> list[str]:
        """Restart the unfinished batches of gateway processes that are gone; their checkpoints say what is left."""
        taken = self.store.claim_orphans(self.owner, _alive)
        for batch_id in taken:
            log.warning("resuming batch %s (its gateway process is gone)", batch_id)
            self._start(batch_id)
        return taken

    async def retrieve_batch(self, request: Request) -> Response:
        return _json(public(self._batch(request.path_params["batch_id"])))

    async def list_batches(self, request: Request) -> Response:
        try:
            limit = max(1, min(100, int(request.query_params.get("limit", "20"))))
        except ValueError:
            raise RequestError("limit must be an integer", param="limit") from None
        page, more = self.store.list_batches(limit, request.query_params.get("after"))
        page = [public(self._live(b)) for b in page]
        return _json({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                      "last_id": page[-1]["id"] if page else None, "has_more": more})

    async def cancel_batch(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        batch = self._batch(batch_id)
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            raise RequestError(f"batch {batch_id!r} is {batch['status']} and cannot be cancelled", code="invalid_state")
        batch = self.store.update_batch(batch_id, status="cancelling", cancelling_at=int(time.time()))
        event = self._cancel.get(batch_id)
        if event is not None:
            event.set()
        return _json(public(self._live(batch)))

    def _batch(self, batch_id: str) -> dict[str, Any]:
        body = self.store.get_batch(batch_id)
        if body is None:
            raise _NotFound("batch", batch_id)
        return self._live(body)

    def _live(self, batch: dict[str, Any]) -> dict[str, Any]:
        """While a batch runs, its request counts come from its checkpoint."""
        if batch["status"] in ("in_progress", "finalizing", "cancelling"):
            path = self.store.batch_dir(batch["id"]) / "checkpoint.sqlite"
            if path.exists():
                cp = Checkpoint(path)
                try:
                    t = cp.totals()
                finally:
                    cp.close()
                batch["request_counts"] = {"total": t.total, "completed": t.done, "failed": t.failed}
        return batch

    async def _watch(self, batch_id: str, cancel: asyncio.Event) -> None:
        """A cancel written by another gateway worker reaches the job within a second."""
        while not cancel.is_set():
            await asyncio.sleep(1.0)
            batch = self.store.get_batch(batch_id)
            if batch is not None and batch["status"] == "cancelling":
                cancel.set()

    async def _run(self, batch_id: str, cancel: asyncio.Event) -> None:
        store = self.store
        batch = store.get_batch(batch_id)
        assert batch is not None
        folder = store.batch_dir(batch_id)
        paths = BatchPaths(store.file_path(batch["input_file_id"]), folder / "output.jsonl",
                           folder / "errors.jsonl", folder / "checkpoint.sqlite")
        watcher = asyncio.create_task(self._watch(batch_id, cancel))
        try:
            if batch["status"] == "cancelling":
                cancel.set()
            else:
                store.update_batch(batch_id, status="in_progress", in_progress_at=batch["in_progress_at"]
                                   or int(time.time()))
            backend = LocalBackend.sharing(self.engine, self.redact, concurrency=self.concurrency)
            result = await run_batch(self.engine.config, paths, backend, RunOptions(), endpoint=batch["endpoint"],
                                     cancel=cancel)
            store.update_batch(batch_id, status="finalizing", finalizing_at=int(time.time()))
            changes = self._outputs(batch_id, paths, result.output_lines, result.error_lines)
            s = result.stats
            counts = {"total": s.total, "completed": s.done_before + s.done, "failed": s.failed_before + s.failed}
            now = int(time.time())
            if cancel.is_set():
                changes.update(status="cancelled", cancelled_at=now)
            else:
                changes.update(status="completed", completed_at=now)
            store.update_batch(batch_id, request_counts=counts, **changes)
        except BatchInputError as exc:
            errors = [{"code": "invalid_line", "message": p, "param": None, "line": _line_of(p)} for p in exc.problems]
            store.update_batch(batch_id, status="failed", failed_at=int(time.time()),
                               errors={"object": "list", "data": errors})
        except Exception as exc:  # a job must end in a state the client can see
            log.exception("batch %s failed", batch_id)
            store.update_batch(batch_id, status="failed", failed_at=int(time.time()), errors={
                "object": "list", "data": [{"code": "internal_error", "message": self.redact(str(exc))[:500],
                                            "param": None, "line": None}]})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._jobs.pop(batch_id, None)
            self._cancel.pop(batch_id, None)

    def _outputs(self, batch_id: str, paths: BatchPaths, out_lines: int, err_lines: int) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key, path, count, name in (("output_file_id", paths.output, out_lines, "output"),
                                       ("error_file_id", paths.errors, err_lines, "errors")):
            if count:
                file_id = f"file-{os.urandom(12).hex()}"
                path.replace(self.store.file_path(file_id))
                size = self.store.file_path(file_id).stat().st_size
                self.store.register_file(file_id, size, f"{batch_id}_{name}.jsonl", "batch_output")
                changes[key] = file_id
        return changes

    async def aclose(self) -> None:
        """Stop running jobs (their checkpoints keep what finished)."""
        for task in list(self._jobs.values()):
            task.cancel()
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        self.store.close()


def _alive(owner: str) -> bool:
    """Whether the gateway process named ``host:pid`` still runs (another host's: assumed so)."""
    host, _, pid = owner.rpartition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _line_of(problem: str) -> int | None:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else None


def batch_app(engine: Engine, store_root: Path | None = None, *, serving: bool = False) -> Starlette:
    """The gateway (`create_app`) with the files and batches routes added (``serving``: as there)."""
    from modelyard.server.app import create_app

    api = BatchAPI(engine, BatchStore(store_root))
    app = create_app(engine, routes=api.routes(), serving=serving)
    app.state.batches = api
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        async with inner(a):  # the gateway's own start-up first, its shutdown (engine) last
            await api.resume()
            try:
                yield
            finally:
                await api.aclose()

    app.router.lifespan_context = lifespan
    return app


def batch_app_from_env() -> Starlette:
    """Factory for multi-worker servers (as `modelyard.server.app.app_from_env`, with batches)."""
    from modelyard.server.app import CONFIG_ENV

    path = os.environ.get(CONFIG_ENV)
    return batch_app(Engine.from_config(path or None), serving=True)
