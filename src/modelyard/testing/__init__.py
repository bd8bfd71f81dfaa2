"""Test doubles that ship with modelyard, for its own tests and for yours.

`LoopbackUpstream` is a real HTTP server speaking the OpenAI, Anthropic and
Gemini protocols, with scriptable faults (`Fault`, `FaultPlan`). Point a
provider's ``base_url`` at ``upstream.url`` (OpenAI: ``upstream.url + "/v1"``).
"""

from modelyard.testing.faults import Fault, FaultPlan
from modelyard.testing.upstream import LoopbackUpstream, RecordedRequest

__all__ = ["Fault", "FaultPlan", "LoopbackUpstream", "RecordedRequest"]
