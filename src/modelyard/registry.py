"""The model registry, and family → model selection.

When a router names a *family*, `Registry.select` picks the concrete model:
among enabled, available models of that family that can serve the request's
shape (endpoint, images, free chat or classification only: `ModelSpec.capabilities`),
fit its context, satisfy its privacy requirement, latency budget and cost cap, it
takes the cheapest (or fastest, or a weighted draw). When none fits,
`NoModelFitsError` lists why each candidate was rejected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from modelyard.config.models import Endpoint, ModelSpec
from modelyard.errors import NoModelFitsError, UnknownModelError
from modelyard.types import Candidate, ChatRequest, Family, PrivacyTier, Usage

__all__ = ["AlwaysAvailable", "Availability", "Registry", "Selection", "Strategy"]

Strategy = Literal["cheapest", "fastest", "weighted"]


class Availability(Protocol):
    """Live state that can take a model out of rotation (breakers, rate limits)."""

    def unavailable_reason(self, model: str) -> str | None:
        """None when the model may be called now, else a short reason."""
        ...


class AlwaysAvailable:
    def unavailable_reason(self, model: str) -> str | None:
        return None


@dataclass(frozen=True)
class Selection:
    model: ModelSpec
    candidates: list[Candidate]
    strategy: Strategy


class Registry:
    """Read-only view of the configured models."""

    def __init__(self, models: Mapping[str, ModelSpec], *, seed: int | None = None) -> None:
        self._models = dict(models)
        self._by_family: dict[Family, list[ModelSpec]] = {}
        for spec in self._models.values():
            self._by_family.setdefault(spec.family, []).append(spec)
        self._rng = random.Random(seed)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str) -> ModelSpec:
        try:
            return self._models[name]
        except KeyError:
            raise UnknownModelError(name, list(self._models)) from None

    def of_family(self, family: Family) -> list[ModelSpec]:
        return list(self._by_family.get(family, []))

    def shape_rejection(self, family: Family, request: ChatRequest, endpoint: Endpoint = "chat") -> str | None:
        """Why no enabled model of ``family`` can serve a request of this shape, or None if one can.

        Shape only (what the request is); live state (breakers, limits) is not consulted.
        """
        configured = self.of_family(family)
        if not configured:
            return f"no {family.value} model is configured"
        models = [s for s in configured if s.enabled]
        if not models:
            return f"every {family.value} model is disabled in config"
        reasons = []
        for spec in models:
            why = spec.shape_rejection(request, endpoint)
            if why is None:
                return None
            reasons.append(f"{spec.name} {why}")
        return "; ".join(reasons)

    def fits_nowhere(self, request: ChatRequest, endpoint: Endpoint = "chat") -> str | None:
        """Why no enabled model that could serve this kind of request can hold it, or None when one can.

        Only the size is in question: among the enabled models whose `ModelSpec.kind_rejection`
        passes, is there one whose context window fits (`ModelSpec.context_rejection`)? When none
        is, the message names the tokens needed and the largest window configured; the request is
        then the client's to shorten (HTTP 400 ``context_too_long``), not a routing failure.
        """
        serving = [s for s in self._models.values() if s.enabled and s.kind_rejection(request, endpoint) is None]
        if not serving or any(s.context_rejection(request) is None for s in serving):
            return None
        largest = max(serving, key=lambda s: (s.context_window, s.name))
        needed = request.estimate_input_tokens() + (request.output_token_limit or 0)
        return (
            f"the request needs ~{needed} tokens (input estimated at ~4 characters a token, plus max_tokens) "
            f"and no model that can serve it has a context window that large; the largest is {largest.name}'s "
            f"{largest.context_window} tokens: shorten the messages or lower max_tokens"
        )

    def estimate_cost(self, spec: ModelSpec, request: ChatRequest) -> float:
        """Expected cost with the requested (or a modest default) output length."""
        out = request.output_token_limit or min(spec.max_output_tokens or 256, 256)
        usage = Usage(
            input_tokens=request.estimate_input_tokens(),
            output_tokens=out,
            images=len(request.images) + request.output_images,
        )
        return spec.price.cost(usage)

    def rejection(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        availability: Availability | None = None,
        *,
        endpoint: Endpoint = "chat",
    ) -> str | None:
        """Why ``spec`` cannot serve ``request``, or None if it can.

        Checked in order: enabled, shape (`ModelSpec.shape_rejection`: endpoint,
        images, free chat vs classification only, context), live availability,
        privacy, consent, latency budget, cost cap.
        """
        hints = request.hints
        if not spec.enabled:
            return "disabled in config"
        if (why := spec.shape_rejection(request, endpoint)) is not None:
            return why
        if availability is not None and (why := availability.unavailable_reason(spec.name)):
            return why
        if hints.privacy is not None and not hints.privacy.allows(spec.privacy):
            return f"privacy tier {spec.privacy.value} exceeds required {hints.privacy.value}"
        if hints.consent_third_party is False and spec.privacy is PrivacyTier.THIRD_PARTY:
            return "third-party model and the user did not consent"
        if hints.latency_budget_ms is not None and spec.latency_p50_ms > hints.latency_budget_ms:
            return f"p50 {spec.latency_p50_ms:.0f} ms exceeds budget {hints.latency_budget_ms:.0f} ms"
        if hints.max_cost_usd is not None:
            estimate = self.estimate_cost(spec, request)
            if estimate > hints.max_cost_usd:
                return f"estimated ${estimate:.6f} exceeds max_cost ${hints.max_cost_usd:.6f}"
        return None

    def select(
        self,
        family: Family,
        request: ChatRequest,
        *,
        strategy: Strategy = "cheapest",
        availability: Availability | None = None,
        endpoint: Endpoint = "chat",
    ) -> Selection:
        fitting: list[ModelSpec] = []
        candidates: list[Candidate] = []
        for spec in self.of_family(family):
            why = self.rejection(spec, request, availability, endpoint=endpoint)
            if why is None:
                fitting.append(spec)
            else:
                candidates.append(Candidate(name=spec.name, accepted=False, reason=why))
        if not fitting:
            raise NoModelFitsError(family.value, {c.name: c.reason for c in candidates})
        chosen = self._pick(fitting, request, strategy)
        for spec in fitting:
            cost = self.estimate_cost(spec, request)
            if spec is chosen:
                reason = f"{strategy} fitting {family.value} model (est. ${cost:.6f}, p50 {spec.latency_p50_ms:.0f} ms)"
            else:
                reason = f"fits, but not the {strategy} (est. ${cost:.6f}, p50 {spec.latency_p50_ms:.0f} ms)"
            candidates.append(Candidate(name=spec.name, accepted=spec is chosen, reason=reason, score=cost))
        return Selection(model=chosen, candidates=candidates, strategy=strategy)

    def _pick(self, fitting: list[ModelSpec], request: ChatRequest, strategy: Strategy) -> ModelSpec:
        if strategy == "fastest":
            return min(fitting, key=lambda s: (s.latency_p50_ms, self.estimate_cost(s, request), s.name))
        if strategy == "weighted":
            weights = [s.weight for s in fitting]
            if sum(weights) <= 0:
                return fitting[0]
            return self._rng.choices(fitting, weights=weights, k=1)[0]
        return min(fitting, key=lambda s: (self.estimate_cost(s, request), s.latency_p50_ms, s.name))
