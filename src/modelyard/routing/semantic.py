"""``kind: semantic`` — routes defined by example utterances, matched by embedding similarity.

A route is data: a name, a few example utterances, a similarity threshold and a
target. A request goes to the route whose utterances it is closest to (cosine on
unit vectors; a route scores the mean of its ``top_k`` best utterances, ``top_k: 1``
being the plain maximum), provided that score clears the route's threshold. When
no route clears its threshold the request falls through to ``fallback``, usually
the next router (``router:classifier``). A route whose target cannot serve the
request's shape (`modelyard.routing.targets.first_capable`) is passed over for the
next passing route, with the reason among the candidates. Utterance vectors come
from the on-disk `EmbeddingCache`, so restarts do not re-embed them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelyard.config.routers.semantic import Route, SemanticSpec
from modelyard.encoders.base import Encoder, Vectors
from modelyard.errors import ConfigError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.embedding_cache import EmbeddingCache, query_vector
from modelyard.routing.targets import first_capable
from modelyard.types import Candidate, ChatRequest, Decision, Target

__all__ = ["Route", "RouteMatch", "SemanticRouter", "SemanticRoutes", "SemanticSpec"]


@dataclass(frozen=True)
class RouteMatch:
    """The best route (``None`` when no route cleared its threshold) and every route's score."""

    route: Route | None
    score: float
    scores: dict[str, float]


class SemanticRoutes:
    """Embeds every utterance once (through the cache) and scores queries against them."""

    def __init__(
        self,
        routes: Sequence[Route],
        encoder: Encoder,
        *,
        default_threshold: float = 0.5,
        top_k: int = 1,
        cache: EmbeddingCache | None = None,
    ) -> None:
        if not routes:
            raise ConfigError("at least one route is needed", key="routes")
        names = [r.name for r in routes]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"duplicate route names: {dupes}", key="routes")
        if top_k < 1:
            raise ConfigError("top_k must be at least 1", key="top_k")
        self.routes = list(routes)
        self.encoder = encoder
        self.top_k = top_k
        self.thresholds = np.array(
            [r.threshold if r.threshold is not None else default_threshold for r in routes], dtype=np.float32
        )
        texts = [u for r in routes for u in r.utterances]
        self._owner = np.array([i for i, r in enumerate(routes) for _ in r.utterances], dtype=np.int64)
        cache = cache if cache is not None else EmbeddingCache()
        self.matrix: Vectors = cache.encode(encoder, texts)
        # Per route: the rows of its utterances, padded to the longest route with a sentinel row.
        width = max(len(r.utterances) for r in routes)
        self._rows = np.full((len(routes), width), len(texts), dtype=np.int64)
        for i in range(len(routes)):
            rows = np.flatnonzero(self._owner == i)
            self._rows[i, : len(rows)] = rows
        self._k = np.minimum(np.array([len(r.utterances) for r in routes]), top_k)

    def route_scores(self, vector: Vectors) -> Vectors:
        """One score per route: mean of its ``top_k`` highest utterance similarities."""
        sims = np.append(self.matrix @ vector, -np.inf).astype(np.float32)
        per = np.sort(sims[self._rows], axis=1)[:, ::-1]  # sentinel -inf sorts last
        if self.top_k == 1:
            return np.asarray(per[:, 0], dtype=np.float32)
        k = int(self._k.max())
        top = np.where(np.arange(k)[None, :] < self._k[:, None], per[:, :k], 0.0)
        return np.asarray(top.sum(axis=1) / self._k, dtype=np.float32)

    def match_vector(self, vector: Vectors) -> RouteMatch:
        scores = self.route_scores(vector)
        passing = np.where(scores >= self.thresholds, scores, -np.inf)
        best = int(passing.argmax())
        by_name = {r.name: round(float(s), 4) for r, s in zip(self.routes, scores, strict=True)}
        if not np.isfinite(passing[best]):
            top = int(scores.argmax())
            return RouteMatch(None, float(scores[top]), by_name)
        return RouteMatch(self.routes[best], float(scores[best]), by_name)

    def match(self, text: str) -> RouteMatch:
        return self.match_vector(self.encoder.encode([text])[0])


class SemanticRouter(Router):
    """Nearest embedding route above its threshold, else ``fallback``."""

    kind = "semantic"

    def __init__(self, name: str, routes: SemanticRoutes, fallback: Target | str) -> None:
        super().__init__(name)
        self.routes = routes
        self.fallback = Target.parse(fallback) if isinstance(fallback, str) else fallback
        self._targets = {r.name: Target.parse(r.target_ref) for r in routes.routes}

    @classmethod
    def from_spec(cls, spec: SemanticSpec, build: BuildContext) -> SemanticRouter:
        if build.encoder_factory is not None:
            encoder: Encoder = build.encoder_factory()
        else:
            from modelyard.encoders import default_encoder

            encoder = default_encoder()
        cache_dir = None
        if spec.cache_dir is not None:
            cache_dir = Path(spec.cache_dir).expanduser()
            cache_dir = cache_dir if cache_dir.is_absolute() else build.config_dir / cache_dir
        routes = SemanticRoutes(
            spec.routes,
            encoder,
            default_threshold=spec.threshold,
            top_k=spec.top_k,
            cache=EmbeddingCache(cache_dir),
        )
        fallback = Target.parse(spec.fallback)
        if fallback.kind == "model" and fallback.name in build.routers:
            fallback = Target(kind="router", name=fallback.name)
        return cls(spec.name, routes, fallback)

    def decide_sync(self, request: ChatRequest, ctx: RouteContext | None = None) -> Decision:
        text = request.last_user_text
        vec = query_vector(self.routes.encoder, text, ctx.cache if ctx is not None else None)
        m = self.routes.match_vector(vec)
        skipped: list[Candidate] = []
        if m.route is not None and ctx is not None:  # the best passing route whose target can serve this shape
            passing = sorted(
                (r for r, t in zip(self.routes.routes, self.routes.thresholds, strict=True) if m.scores[r.name] >= t),
                key=lambda r: -m.scores[r.name],
            )
            index, skipped = first_capable(
                [self._targets[r.name] for r in passing], request, ctx, labels=[r.name for r in passing]
            )
            route = passing[index] if index is not None else None
            m = RouteMatch(route, m.scores[route.name] if route is not None else m.score, m.scores)
        passed = {c.name for c in skipped}
        candidates = [*skipped] + [
            Candidate(
                name=r.name,
                accepted=m.route is not None and r.name == m.route.name,
                reason=f"similarity {m.scores[r.name]:.2f} vs threshold {float(t):.2f}",
                score=m.scores[r.name],
            )
            for r, t in zip(self.routes.routes, self.routes.thresholds, strict=True)
            if r.name not in passed
        ]
        if m.route is None:
            why = "no capable embedding route matched" if skipped else "no embedding route matched"
            decision = self.decision(
                self.fallback,
                f"{why} (best {m.score:.2f}); falling through to {self.fallback.name}",
                confidence=None,
                matched=None,
                scores=m.scores,
            )
        else:
            decision = self.decision(
                self._targets[m.route.name],
                f"embedding route {m.route.name!r} (similarity {m.score:.2f})",
                confidence=m.score,
                matched=m.route.name,
                scores=m.scores,
            )
        return decision.model_copy(update={"candidates": candidates})

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return await asyncio.to_thread(self.decide_sync, request, ctx)
