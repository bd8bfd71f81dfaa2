"""``resilience:`` section — fallbacks, breakers, retries, limits, budgets.

Placeholder shape; the resilience layer fills it in.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ResilienceSettings"]


class ResilienceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
