"""`LoopbackService`: a small JSON HTTP service that records every request, for action-layer tests.

It stands in for the APIs an action graph calls (a CRM, a payments API, an
analytics API). It dedupes nothing: a POST sent twice takes effect twice and
is logged twice, so a test that finds one log line per side-effecting step
proves the *executor* sent it once. Every request is logged — method, path,
query, JSON body and ``Idempotency-Key`` — in memory and, with ``log_path``,
appended to a JSONL file (flushed per line) that another process can read.

Besides its routes it answers ``GET /_effects/{key}``: 200 with the response
of the request that carried that idempotency key (it took effect), 404 when
none did. That is a read, the kind of lookup real APIs offer ("retrieve by
idempotency key"); the executor uses it to settle a call left in doubt.

Faults (`ServiceFault`) are consumed in order per route: a status (with
Retry-After), or latency. ``slow_ms`` delays every answer of a route.

`board_services` builds the three stand-ins of the quarterly board report.
Run them as a process: ``python -m modelyard.testing.services --board``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from modelyard.testing.threaded import serving_in_thread

__all__ = ["LoopbackService", "ServiceFault", "board_figures", "board_services", "main"]

Handler = Callable[[dict[str, Any]], Any]


@dataclass
class ServiceFault:
    """Answer the next ``times`` requests of ``route`` ("GET /revenue") with ``status``, or late."""

    route: str
    status: int | None = None
    times: int = 1
    retry_after: float | None = None
    latency_ms: float = 0.0
    body: dict[str, Any] = field(default_factory=lambda: {"error": "injected fault"})


class LoopbackService:
    """Routes are ``{"GET /path": handler}``; ``/path`` may end in ``/{id}`` (the handler gets ``id``)."""

    def __init__(
        self,
        name: str,
        routes: dict[str, Handler],
        *,
        port: int = 0,
        token: str | None = None,
        log_path: str | Path | None = None,
        slow_ms: dict[str, float] | None = None,
    ) -> None:
        self.name = name
        self.routes = dict(routes)
        self.port = port
        self._token = token
        self.log_path = Path(log_path) if log_path is not None else None
        self.slow_ms = dict(slow_ms or {})
        self.faults: list[ServiceFault] = []
        self.log: list[dict[str, Any]] = []
        self.effects: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"LoopbackService({self.name!r}, port={self.port})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, *faults: ServiceFault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """Logged requests (of ``route`` like "POST /notes" when given)."""
        with self._lock:
            rows = list(self.log)
        return [r for r in rows if route is None or r["route"] == route]

    def _fault(self, route: str) -> ServiceFault | None:
        with self._lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _match(self, method: str, path: str) -> tuple[str, Handler, str | None] | None:
        direct = f"{method} {path}"
        if direct in self.routes:
            return direct, self.routes[direct], None
        head, _, tail = path.rpartition("/")
        pattern = f"{method} {head}/{{id}}"
        if pattern in self.routes and tail:
            return pattern, self.routes[pattern], tail
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path.startswith("/_effects/"):
            wanted = request.path.removeprefix("/_effects/")
            with self._lock:
                found = wanted in self.effects
                answer = self.effects.get(wanted)
            return web.json_response(answer) if found else web.json_response({"error": "no such key"}, status=404)
        if self._token is not None and request.headers.get("Authorization") != f"Bearer {self._token}":
            return web.json_response({"error": "unauthorised"}, status=401)
        matched = self._match(request.method, request.path)
        if matched is None:
            return web.json_response({"error": f"no route {request.method} {request.path}"}, status=404)
        route, handler, ident = matched
        body = await request.json() if request.can_read_body else None
        key = request.headers.get("Idempotency-Key")
        entry: dict[str, Any] = {
            "service": self.name,
            "route": route,
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "body": body,
            "idempotency_key": key,
            "at": time.time(),
        }
        fault = self._fault(route)
        if fault is not None and fault.status is not None:
            entry["answered"] = fault.status
            self._record(entry)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return web.json_response(fault.body, status=fault.status, headers=headers)
        args = {"query": dict(request.query), "body": body, "id": ident, "idempotency_key": key}
        try:
            answer = handler(args)
        except (KeyError, ValueError) as exc:
            entry["answered"] = 400
            self._record(entry)
            return web.json_response({"error": str(exc)}, status=400)
        entry["answered"] = 200
        if request.method != "GET" and key is not None:
            with self._lock:
                self.effects[key] = answer
        self._record(entry)  # the effect has happened: logged before any delay, as a real API commits first
        delay = (fault.latency_ms if fault is not None else 0.0) + self.slow_ms.get(route, 0.0)
        if delay:
            await asyncio.sleep(delay / 1000.0)
        return web.json_response(answer)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(entry)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(entry) + "\n")
                    out.flush()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[attr-defined]
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[LoopbackService]:
        """Serve on its own event loop in a daemon thread (for tests whose client is another process)."""
        with serving_in_thread(self.start, self.stop, name=f"service-{self.name}"):
            yield self


# -- the board report's stand-ins ---------------------------------------------------------

_QUARTERS = {"Q1": 0, "Q2": 1, "Q3": 2, "Q4": 3}


def _quarter(args: dict[str, Any]) -> int:
    q = (args["query"] or {}).get("quarter") or (args["body"] or {}).get("quarter")
    if q not in _QUARTERS:
        raise ValueError(f"quarter must be one of {', '.join(_QUARTERS)}, got {q!r}")
    return _QUARTERS[q]


def board_services(*, log_dir: str | Path | None = None, token: str | None = None) -> dict[str, LoopbackService]:
    """Three stand-ins with fixed, deterministic data: ``crm``, ``payments``, ``analytics``.

    crm: ``GET /pipeline?quarter=`` (deals), ``POST /notes`` (publish a note: a side effect),
    ``DELETE /notes/{id}``. payments: ``GET /revenue?quarter=``. analytics: ``GET /usage?quarter=``.
    """
    notes = itertools.count(1)

    def pipeline(args: dict[str, Any]) -> Any:
        q = _quarter(args)
        return {
            "quarter": list(_QUARTERS)[q],
            "open_deals": 42 + 5 * q,
            "pipeline_usd": 1_250_000 + 150_000 * q,
            "won_usd": 410_000 + 35_000 * q,
        }

    def revenue(args: dict[str, Any]) -> Any:
        q = _quarter(args)
        return {
            "quarter": list(_QUARTERS)[q],
            "revenue_usd": 980_000 + 60_000 * q,
            "refunds_usd": 12_500 + 500 * q,
            "charges": 8_400 + 300 * q,
        }

    def usage(args: dict[str, Any]) -> Any:
        q = _quarter(args)
        return {
            "quarter": list(_QUARTERS)[q],
            "dau": 18_200 + 900 * q,
            "mau": 61_000 + 2_500 * q,
            "retention_d30": round(0.41 + 0.01 * q, 2),
        }

    def publish(args: dict[str, Any]) -> Any:
        body = args["body"] or {}
        if not body.get("title"):
            raise ValueError("title is required")
        return {"id": f"note-{next(notes)}", "title": body["title"]}

    def unpublish(args: dict[str, Any]) -> Any:
        return {"deleted": args["id"]}

    def log(name: str) -> Path | None:
        return Path(log_dir) / f"{name}.jsonl" if log_dir is not None else None

    return {
        "crm": LoopbackService(
            "crm",
            {"GET /pipeline": pipeline, "POST /notes": publish, "DELETE /notes/{id}": unpublish},
            token=token,
            log_path=log("crm"),
        ),
        "payments": LoopbackService("payments", {"GET /revenue": revenue}, token=token, log_path=log("payments")),
        "analytics": LoopbackService("analytics", {"GET /usage": usage}, token=token, log_path=log("analytics")),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the board report's loopback CRM, payments and analytics APIs.")
    parser.add_argument("--board", action="store_true", help="the three board-report services")
    parser.add_argument("--ports", default="8701,8702,8703", help="crm,payments,analytics ports")
    parser.add_argument("--log-dir", default=None)
    args = parser.parse_args(argv)
    services = board_services(log_dir=args.log_dir)
    for service, port in zip(services.values(), args.ports.split(","), strict=True):
        service.port = int(port)

    async def serve() -> None:
        for service in services.values():
            await service.start()
            print(f"{service.name}: {service.url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()


def board_figures(crm: dict[str, Any], payments: dict[str, Any], analytics: dict[str, Any]) -> dict[str, Any]:
    """The board report's figures from the three services' answers (a Python tool of the example plan)."""
    net = payments["revenue_usd"] - payments["refunds_usd"]
    return {
        "quarter": crm["quarter"],
        "net_revenue_usd": net,
        "refund_rate": round(payments["refunds_usd"] / payments["revenue_usd"], 4),
        "pipeline_usd": crm["pipeline_usd"],
        "won_usd": crm["won_usd"],
        "open_deals": crm["open_deals"],
        "dau_mau": round(analytics["dau"] / analytics["mau"], 3),
        "retention_d30": analytics["retention_d30"],
    }
