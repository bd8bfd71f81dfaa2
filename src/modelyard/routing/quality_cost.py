"""``kind: quality_cost`` — N candidate models, one predicted quality each, a cost trade-off.

An artefact (directory: ``router.json`` + ``weights.npz``, optional ``ood.npz``; no
pickle) predicts every candidate's quality on a prompt from its MiniLM embedding
(`modelyard.routing.quality_heads`). The router then applies one policy
(:func:`choose`):

* ``lambda``: ``argmax_m  q̂_m − λ·c_m`` (λ in quality points per USD);
* ``max_cost``: the best ``q̂_m`` among candidates with ``c_m ≤ max_cost``;
* ``target_quality``: the cheapest candidate with ``q̂_m ≥ target``, else the best.

``c_m`` is the candidate's expected cost per request in USD (the mean over the
training outcomes, or ``costs:`` in the config). A request's ``hints.max_cost_usd``
further removes candidates that cost more. Exact ties go to the cheaper model. With
``ood:`` configured, inputs unlike the training prompts (`modelyard.routing.ood`) go
to ``ood.target`` with the reason in the decision. Trained by ``modelyard train
--outcomes`` (`modelyard.training.quality`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.encoders.base import Encoder
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.ood import NearestNeighbourOOD
from modelyard.routing.quality_heads import QualityHead, load_quality_head
from modelyard.routing.targets import incapable, unavailable
from modelyard.routing.text_view import view_text
from modelyard.routing.weights_files import find_artefact, read_weights, write_weights
from modelyard.types import Candidate, ChatRequest, Decision, Target

__all__ = ["ARTEFACT_FORMAT", "BUILTIN_DIR", "Policy", "QualityCostArtefact", "QualityCostRouter", "choose"]

ARTEFACT_FORMAT = "modelyard-quality-cost-router/1"
BUILTIN_DIR = Path(__file__).resolve().parent / "quality_artefacts"
OOD_FILE = "ood.npz"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Policy:
    """Exactly one of ``lam`` (quality per USD), ``max_cost`` (USD), ``target_quality`` (0..1)."""

    lam: float | None = None
    max_cost: float | None = None
    target_quality: float | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.lam, self.max_cost, self.target_quality)) != 1:
            raise ValueError("a policy sets exactly one of lam, max_cost, target_quality")

    def describe(self) -> str:
        if self.lam is not None:
            return f"λ={self.lam:g}/USD"
        if self.max_cost is not None:
            return f"max cost ${self.max_cost:.6f}"
        return f"target quality {self.target_quality:.2f}"


def choose(pred: FloatArray, cost: FloatArray, policy: Policy, *, cap: float | None = None) -> IntArray:
    """Candidate index per prompt. ``pred`` ``(n, m)``; ``cost`` ``(m,)`` or ``(n, m)`` USD.

    ``cap`` (USD) removes dearer candidates first, unless none is left (then the cheapest
    stays). Ties go to the cheaper candidate, then the lower index.
    """
    p = np.asarray(pred, dtype=np.float64)
    c = np.broadcast_to(np.asarray(cost, dtype=np.float64), p.shape)
    allowed = np.ones(p.shape, dtype=bool)
    if cap is not None:
        allowed = c <= cap + 1e-15
    if policy.max_cost is not None:
        allowed &= c <= policy.max_cost + 1e-15
    none = ~allowed.any(axis=1)
    allowed[none] = c[none] == c[none].min(axis=1, keepdims=True)
    if policy.lam is not None:
        utility = p - policy.lam * c
    elif policy.max_cost is not None:
        utility = p.copy()
    else:
        assert policy.target_quality is not None
        reach = allowed & (p >= policy.target_quality)
        any_reach = reach.any(axis=1, keepdims=True)
        # reaching rows: minus cost (cheapest wins); others: predicted quality (best wins)
        utility = np.where(any_reach, np.where(reach, -c, -np.inf), p)
    utility = np.where(allowed, utility, -np.inf)
    best = utility.max(axis=1, keepdims=True)
    tied = np.isclose(utility, best, rtol=0.0, atol=1e-12) & allowed
    return np.asarray(np.argmin(np.where(tied, c, np.inf), axis=1), dtype=np.int64)


@dataclass
class QualityCostArtefact:
    """``meta`` (JSON) and the fitted head; ``meta["models"]`` and ``meta["mean_cost"]`` per candidate."""

    meta: dict[str, Any]
    head: QualityHead

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.meta["models"]]

    @property
    def mean_cost(self) -> FloatArray:
        return np.asarray(self.meta["mean_cost"], dtype=np.float64)

    def text(self, prompt: str) -> str:
        view = self.meta.get("view", {"kind": "head"})
        return view_text(prompt, str(view["kind"]), int(view.get("max_chars", 300)))

    def save(self, directory: Path) -> Path:
        meta = {**self.meta, "head": {"kind": self.head.kind, "params": self.head.params}}
        write_weights(directory, meta, self.head.arrays(), fmt=ARTEFACT_FORMAT)
        return directory

    @classmethod
    def load(cls, directory: Path) -> QualityCostArtefact:
        meta, arrays = read_weights(directory, fmt=ARTEFACT_FORMAT, what="quality_cost artefact")
        return cls(meta, load_quality_head(meta["head"]["kind"], arrays, meta["head"]["params"]))


def resolve_artefact(ref: str, base: Path | None = None) -> Path:
    """A path (relative to ``base``) or the name of a shipped artefact."""
    return find_artefact(ref, base, BUILTIN_DIR, what="quality_cost artefact")


class QualityCostRouter(Router):
    """Predicts each candidate's quality and picks by the configured `Policy` (see module docstring)."""

    kind = "quality_cost"

    def __init__(
        self,
        name: str,
        artefact: QualityCostArtefact,
        candidates: dict[str, Target],
        policy: Policy,
        *,
        costs: dict[str, float] | None = None,
        encoder: Encoder | None = None,
        ood: NearestNeighbourOOD | None = None,
        ood_target: Target | None = None,
        ood_min_similarity: float | None = None,
    ) -> None:
        super().__init__(name)
        known = artefact.models
        if unknown := sorted(set(candidates) - set(known)):
            raise ConfigError(f"candidates not in the artefact: {unknown}; it predicts {known}", key="candidates")
        if (ood is None) != (ood_target is None):
            raise ConfigError("ood needs both a reference and a target", key="ood")
        self.artefact, self.policy = artefact, policy
        self.names = [m for m in known if m in candidates]
        self.columns = np.array([known.index(m) for m in self.names], dtype=np.int64)
        self.targets = [candidates[m] for m in self.names]
        default = artefact.mean_cost
        self.cost = np.array([(costs or {}).get(m, float(default[known.index(m)])) for m in self.names])
        self._encoder = encoder
        self.ood, self.ood_target, self.ood_min_similarity = ood, ood_target, ood_min_similarity

    @classmethod
    def from_spec(cls, spec: Any, build: BuildContext) -> QualityCostRouter:
        try:
            where = resolve_artefact(spec.artefact, build.config_dir)
            artefact = QualityCostArtefact.load(where)
        except ModelLoadError as exc:
            raise ConfigError(str(exc), key="artefact") from None
        encoder = build.encoder_factory() if build.encoder_factory else None
        if encoder is not None and encoder.model_id != artefact.meta["encoder"]["model_id"]:
            encoder = None
        ood = None
        if spec.ood is not None:
            if not (where / OOD_FILE).is_file():
                raise ConfigError(f"no OOD reference at {where / OOD_FILE}", key=f"routers.{spec.name}.ood")
            try:
                ood = NearestNeighbourOOD.load(where / OOD_FILE)
            except ModelLoadError as exc:
                raise ConfigError(str(exc), key="ood") from None
        policy = Policy(lam=spec.lambda_, max_cost=spec.max_cost, target_quality=spec.target_quality)
        return cls(
            spec.name,
            artefact,
            {m: Target.parse(t) for m, t in spec.candidates.items()},
            policy,
            costs=spec.costs,
            encoder=encoder,
            ood=ood,
            ood_target=Target.parse(spec.ood.target) if spec.ood is not None else None,
            ood_min_similarity=spec.ood.min_similarity if spec.ood is not None else None,
        )

    def _get_encoder(self) -> Encoder:
        if self._encoder is None:
            from modelyard.encoders import MiniLMEncoder

            self._encoder = MiniLMEncoder(max_length=int(self.artefact.meta["encoder"].get("max_length", 256)))
        return self._encoder

    def predict(self, prompt: str) -> tuple[FloatArray, FloatArray]:
        """(predicted quality per candidate ``(m,)``, the embedding ``(d,)``) for one prompt."""
        vec = self._get_encoder().encode([self.artefact.text(prompt)])[0].astype(np.float64)
        return self.artefact.head.predict(vec[None, :])[0][self.columns], vec

    def decide_sync(self, request: ChatRequest, ctx: RouteContext | None = None) -> Decision:
        text = request.last_user_text
        vec: list[FloatArray] = []

        def embed() -> FloatArray:
            vec.append(self._get_encoder().encode([self.artefact.text(text)])[0].astype(np.float64))
            return vec[0]

        if self.ood is not None and self.ood_target is not None and not request.has_image:
            verdict = self.ood.check(self.artefact.text(text), embed, min_similarity=self.ood_min_similarity)
            capable = ctx is None or (
                incapable(self.ood_target, request, ctx) is None and unavailable(self.ood_target, request, ctx) is None
            )  # a target that cannot take it (shape, context window, open breaker): predict as usual
            if verdict.out and capable:
                d = self.decision(
                    self.ood_target,
                    f"{verdict.reason}; sent to {self.ood_target.name}",
                    ood=True,
                    ood_similarity=None if verdict.similarity is None else round(verdict.similarity, 4),
                )
                cand = Candidate(
                    name=str(self.ood_target), accepted=True, reason=verdict.reason, score=verdict.similarity
                )
                return d.model_copy(update={"candidates": [cand]})
        x = vec[0] if vec else embed()
        pred = self.artefact.head.predict(x[None, :])[0][self.columns]
        usable = np.ones(len(self.names), dtype=bool)
        notes: dict[int, str] = {}
        if ctx is not None:
            for i, target in enumerate(self.targets):
                if (why := incapable(target, request, ctx)) is not None:
                    usable[i], notes[i] = False, f"cannot serve this request: {why}"
        if not usable.any():
            usable[:] = True  # let selection say precisely why nothing fits
        cap = request.hints.max_cost_usd
        cols = np.flatnonzero(usable)
        pick = int(cols[choose(pred[None, cols], self.cost[cols], self.policy, cap=cap)[0]])
        candidates = []
        for i in np.argsort(-pred):
            i = int(i)
            why = notes.get(i) or (
                "over the request's max_cost_usd" if cap is not None and self.cost[i] > cap and i != pick else ""
            )
            candidates.append(
                Candidate(
                    name=self.names[i],
                    accepted=i == pick,
                    reason=f"predicted quality {pred[i]:.3f}, expected cost ${self.cost[i]:.6f}"
                    + (f"; {why}" if why else ""),
                    score=round(float(pred[i]), 4),
                )
            )
        capped = f", cost cap ${cap:.6f}" if cap is not None else ""
        decision = self.decision(
            self.targets[pick],
            f"{self.names[pick]}: predicted quality {pred[pick]:.3f} at ${self.cost[pick]:.6f} "
            f"({self.policy.describe()}{capped}; best predicted {self.names[int(np.argmax(pred))]} "
            f"{pred.max():.3f})",
            confidence=float(pred[pick]),
            model=self.names[pick],
            predicted_quality={n: round(float(q), 4) for n, q in zip(self.names, pred, strict=True)},
            expected_cost_usd={n: float(c) for n, c in zip(self.names, self.cost, strict=True)},
            policy=self.policy.describe(),
            artefact=str(self.artefact.meta.get("version", "")),
        )
        return decision.model_copy(update={"candidates": candidates})

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return await asyncio.to_thread(self.decide_sync, request, ctx)
