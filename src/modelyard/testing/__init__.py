"""Test doubles that ship with modelyard, for its own tests and for yours.

`LoopbackUpstream` is a real HTTP server speaking the OpenAI, Anthropic and
Gemini protocols, with scriptable faults (`Fault`, `FaultPlan`). Point a
provider's ``base_url`` at ``upstream.url`` (OpenAI: ``upstream.url + "/v1"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.testing.faults import Fault, FaultPlan

if TYPE_CHECKING:
    from modelyard.testing.upstream import LoopbackUpstream, RecordedRequest

__all__ = ["Fault", "FaultPlan", "LoopbackUpstream", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so ``python -m modelyard.testing.upstream`` runs the
    # module once (as __main__) instead of also importing it via the package.
    if name in ("LoopbackUpstream", "RecordedRequest"):
        from modelyard.testing import upstream

        return getattr(upstream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
