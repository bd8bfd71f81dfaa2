"""How much of the run's budget to hold for one item before it starts.

The hold is the item's cap: it is passed to the engine as the request's
``max_cost``, and the resilience layer reserves each call's worst case against
it before calling, so an item can never spend more than it holds. The sum of
holds never passes the run budget, so the run's spend cannot either.

The hold for a chat item is ``reserve_calls`` × the worst case of one call on
the most expensive model it can reach (the named model, or — for a router —
every chat model in the config), computed with the same worst-case formula the
resilience budget uses. An image generation holds the same with ``n`` images at
the model's image price added per call. An embeddings item holds an upper bound of its single
call: one token per UTF-8 byte of input at the model's input price.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from modelyard.config import Config
from modelyard.resilience.budget import Budget
from modelyard.resilience.state import MemoryState
from modelyard.types import ChatRequest, Message, Modality

__all__ = ["Reserver"]


class Reserver:
    """Per-item holds for one configuration. Needs no providers (the Ray driver uses it too)."""

    def __init__(self, config: Config, *, reserve_calls: float = 4.0, item_reserve_usd: float | None = None) -> None:
        if reserve_calls <= 0:
            raise ValueError("reserve_calls must be > 0")
        self.config = config
        self.reserve_calls = reserve_calls
        self.item_reserve_usd = item_reserve_usd
        self._budget = Budget(config.resilience.budgets, MemoryState())
        self._chat_models = [
            s for s in config.models.values() if s.enabled and s.chat_capability != "none"
        ]
        self._embed_models = [s for s in config.models.values() if s.enabled and s.capabilities.embeddings]

    def hold(self, kind: str, body: dict[str, Any], route: str | None = None) -> float:
        """USD to hold for an item of ``kind`` ("chat", "embeddings") with ``body``."""
        if self.item_reserve_usd is not None:
            return self.item_reserve_usd
        name = route or body.get("model") or self.config.gateway.default_model
        if kind == "embeddings":
            return self._embeddings(body, str(name))
        if kind == "images":
            return self._images(body, route)
        return self._chat(body, str(name))

    def _candidates(self, name: str, pool: list[Any]) -> list[Any]:
        spec = self.config.models.get(name)
        return [spec] if spec is not None else pool

    def _chat(self, body: dict[str, Any], name: str) -> float:
        try:
            request = ChatRequest.model_validate({k: v for k, v in body.items() if k != "modelyard"})
        except ValidationError:  # the item will fail validation in the engine and spend nothing
            return 0.0
        worst = 0.0
        hedges = self.config.resilience.hedge
        for spec in self._candidates(name, self._chat_models):
            one = self._budget.worst_case(spec, request)
            hedge = hedges.get(spec.name)
            if hedge is not None and hedge.alternative in self.config.models:
                one += self._budget.worst_case(self.config.models[hedge.alternative], request)
            worst = max(worst, one)
        return worst * self.reserve_calls

    def _images(self, body: dict[str, Any], route: str | None) -> float:
        """Per call: the worst case of the prompt plus ``n`` output images at the model's image price."""
        from modelyard.batch.images import generation_request

        try:
            request = generation_request(body, route=route)
        except Exception:  # the item will fail validation in the engine and spend nothing
            return 0.0
        pool = [s for s in self._chat_models if Modality.IMAGE in s.modalities.output] or self._chat_models
        worst = 0.0
        for spec in self._candidates(request.model, pool):
            worst = max(worst, self._budget.worst_case(spec, request) + spec.price.image * request.output_images)
        return worst * self.reserve_calls

    def _embeddings(self, body: dict[str, Any], name: str) -> float:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        texts = [t for t in texts if isinstance(t, str)]
        tokens = sum(len(t.encode()) + 1 for t in texts)
        probe = ChatRequest(messages=[Message(role="user", content="x")], max_tokens=1)
        worst = 0.0
        for spec in self._candidates(name, self._embed_models):
            margin = self._budget.worst_case(spec, probe)  # what the resilience layer reserves for the call
            worst = max(worst, tokens / 1000.0 * spec.price.input + margin)
        return math.ceil(worst * 1e9) / 1e9
