"""What the gateway knows about one HTTP request while it is being served.

The outermost middleware puts a `RequestInfo` in the ASGI scope; auth fills
the tenant, the endpoint fills model, route and cost, and the access log reads
it when the response ends. One small object instead of state scattered over
headers and globals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modelyard.types import new_id

__all__ = ["SCOPE_KEY", "RequestInfo", "request_info"]

#: key of the `RequestInfo` in the ASGI scope
SCOPE_KEY = "modelyard.request"


@dataclass(slots=True)
class RequestInfo:
    request_id: str = field(default_factory=lambda: new_id("req"))
    started: float = field(default_factory=time.perf_counter)
    tenant: str | None = None
    key_name: str | None = None
    model: str | None = None
    route: str | None = None
    cost_usd: float | None = None
    simulated: bool = False
    status: int | None = None
    error_type: str | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


def request_info(scope: dict[str, Any] | Any) -> RequestInfo:
    """The request's info, created on first use (so endpoints work without the middleware)."""
    info: RequestInfo | None = scope.get(SCOPE_KEY)
    if info is None:
        info = RequestInfo()
        scope[SCOPE_KEY] = info
    return info
