"""Telemetry's HTTP routes: ``/metrics``, ``POST /v1/feedback``, ``/dashboard`` and its JSON.

`telemetry_routes(engine)` returns plain Starlette routes the gateway mounts
(``create_app(engine, routes=...)`` does it for every engine with telemetry).
Database reads run in a worker thread, never on the event loop. Feedback is
under ``/v1/`` so gateway keys protect it, and a tenant can only rate its own
requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import time
from pathlib import Path

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from modelyard.telemetry.hub import TelemetryHub
from modelyard.telemetry.metrics import CONTENT_TYPE
from modelyard.telemetry.record import Feedback, Record
from modelyard.telemetry.summary import collect, summarize

__all__ = ["telemetry_routes"]

_HERE = Path(__file__).parent / "dashboard"
_MAX_WINDOW_S = 30 * 86_400


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


def _tenant(request: Request) -> str | None:
    info = request.scope.get("modelyard.request")  # set by the gateway's auth middleware when present
    return getattr(info, "tenant", None)


class TelemetryEndpoints:
    def __init__(self, hub: TelemetryHub) -> None:
        self.hub = hub

    async def metrics(self, request: Request) -> Response:
        if self.hub.metrics is None:
            return _error(404, "metrics are off (telemetry.metrics: false)")
        return Response(self.hub.metrics.exposition(), media_type=CONTENT_TYPE)

    async def feedback(self, request: Request) -> Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
            return _error(400, "request_id (string) is required", "request_id")
        fields = {k: body.get(k) for k in ("score", "thumbs", "label", "comment")}
        if all(v is None for k, v in fields.items() if k != "comment"):
            return _error(400, "give at least one of score (0..1), thumbs (up/down) or label", "score")
        tenant = _tenant(request)
        try:
            fb = Feedback(request_id=body["request_id"], time=time.time(), tenant=tenant, **fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            return _error(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}", str(first["loc"][0]))
        record = await asyncio.to_thread(self._find, fb.request_id)
        if record is None or (tenant is not None and record != tenant):
            return _error(404, f"no request {fb.request_id!r} is known", "request_id")
        self.hub.feedback(fb)
        return JSONResponse({"request_id": fb.request_id, "stored": True}, status_code=202)

    def _find(self, request_id: str) -> str | None:
        """The tenant of a known request ("" when it had none), or None when unknown."""
        for r in self.hub.recent:
            if r.request_id == request_id:
                return r.tenant or ""
        store = self.hub.store
        found = store.get(request_id) if store is not None else None
        return None if found is None else (found.tenant or "")

    async def summary(self, request: Request) -> Response:
        try:
            window = float(request.query_params.get("window", "900"))
        except ValueError:
            return _error(400, "window must be a number of seconds", "window")
        window = min(max(window, 10.0), _MAX_WINDOW_S)
        now = time.time()
        collected = await asyncio.to_thread(collect, self.hub, now - window, now)
        data = summarize(
            collected,
            now=now,
            window_s=window,
            breakers=self.hub.breaker_states(),
            sinks=[dataclasses.asdict(s) for s in self.hub.sink_stats()],
            report=self.hub.settings.report,
        )
        return JSONResponse(data)

    async def page(self, request: Request) -> Response:
        """Server-rendered shell with the latest records; the script refreshes it from the JSON."""
        latest = list(self.hub.recent)[-10:]
        rows = "".join(_row(r) for r in reversed(latest))
        template = (_HERE / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(
            template.replace("<!--LATEST-->", rows or '<tr><td colspan="8">no requests yet</td></tr>')
        )


def _row(r: Record) -> str:
    cells = [
        time.strftime("%H:%M:%S", time.localtime(r.time)),
        r.request_id,
        " → ".join(r.route) or "-",
        r.model or "-",
        r.status,
        f"{r.latency_ms:.1f}",
        f"{r.cost_usd:.6f}",
        r.reason,
    ]
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def telemetry_routes(hub: TelemetryHub) -> list[BaseRoute]:
    ep = TelemetryEndpoints(hub)
    return [
        Route("/metrics", ep.metrics, methods=["GET"]),
        Route("/v1/feedback", ep.feedback, methods=["POST"]),
        Route("/dashboard", ep.page, methods=["GET"]),
        Route("/dashboard/api/summary", ep.summary, methods=["GET"]),
        Mount("/dashboard/static", StaticFiles(directory=_HERE / "static"), name="dashboard-static"),
    ]
