"""``kind: threshold`` — strong or weak model by a learned "strong model needed" score.

A trained artefact (a directory: ``router.json`` + ``weights.npz``, no pickle)
maps a prompt's MiniLM embedding to a score; prompts scoring at or above the
threshold go to the strong model. The threshold is set directly or as the
target share of strong calls, read from the score quantiles recorded at
training time (``modelyard calibrate`` recomputes them on your own prompts, or on
the prompts in telemetry records with ``--from-logs``). With ``ood:`` set, a prompt
unlike the head's training prompts (`modelyard.routing.ood`; the reference is
``ood.npz`` in the artefact directory) goes to ``ood.target`` with the reason, before
the score is trusted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.config.routers.threshold import ThresholdSpec
from modelyard.encoders.base import Encoder
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.ood import NearestNeighbourOOD
from modelyard.routing.targets import first_capable, incapable, unavailable
from modelyard.routing.threshold_heads import Head, load_head, score
from modelyard.routing.weights_files import find_artefact, read_weights, write_weights
from modelyard.types import Candidate, ChatRequest, Decision, Target

__all__ = [
    "ARTEFACT_FORMAT",
    "BUILTIN_DIR",
    "ThresholdArtefact",
    "ThresholdRouter",
    "ThresholdScorer",
]

ARTEFACT_FORMAT = "modelyard-threshold-router/1"
#: Artefacts shipped in the repository; a spec may name one by directory name.
BUILTIN_DIR = Path(__file__).resolve().parent / "threshold_artefacts"
OOD_FILE = "ood.npz"


@dataclass
class ThresholdArtefact:
    """A versioned score model: JSON metadata plus numpy arrays."""

    meta: dict[str, Any]
    head: Head

    def save(self, directory: Path) -> None:
        meta = {**self.meta, "head": {"kind": self.head.kind, "params": self.head.params}}
        write_weights(directory, meta, self.head.arrays(), fmt=ARTEFACT_FORMAT)

    @classmethod
    def load(cls, directory: Path) -> ThresholdArtefact:
        meta, arrays = read_weights(directory, fmt=ARTEFACT_FORMAT, what="threshold artefact")
        return cls(meta, load_head(meta["head"]["kind"], arrays, meta["head"]["params"]))


def resolve_artefact(ref: str, base: Path | None = None) -> Path:
    """A path (relative to ``base``) or the name of a shipped artefact."""
    return find_artefact(ref, base, BUILTIN_DIR, what="threshold artefact")


@dataclass
class ThresholdScorer:
    """Loads an artefact and scores texts: higher means the strong model helps more."""

    artefact: ThresholdArtefact
    encoder: Encoder | None = None
    _encoder: Encoder | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, ref: str | Path, encoder: Encoder | None = None) -> ThresholdScorer:
        return cls(ThresholdArtefact.load(resolve_artefact(str(ref))), encoder)

    @property
    def version(self) -> str:
        return str(self.artefact.meta.get("version", "unknown"))

    def _get_encoder(self) -> Encoder:
        if self._encoder is None:
            want = self.artefact.meta["encoder"]
            if self.encoder is not None:
                if self.encoder.model_id != want["model_id"]:
                    raise ModelLoadError(
                        f"artefact needs encoder {want['model_id']!r}, got {self.encoder.model_id!r}"
                    )
                self._encoder = self.encoder
            else:
                from modelyard.encoders import MiniLMEncoder

                self._encoder = MiniLMEncoder(max_length=int(want.get("max_length", 128)))
        return self._encoder

    def score_vectors(self, vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
        return score(self.artefact.head, np.asarray(vectors, dtype=np.float64))

    def score(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self.score_vectors(self._get_encoder().encode(list(texts)))

    def threshold_for_share(self, share: float) -> float:
        """Threshold that sends ``share`` of the calibration prompts to the strong model."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"strong share must be in [0, 1], got {share}")
        q = np.asarray(self.artefact.meta["calibration"]["quantiles"], dtype=np.float64)
        return float(np.interp(1.0 - share, np.linspace(0.0, 1.0, len(q)), q))


class ThresholdRouter(Router):
    """Sends a request to ``strong`` when its score is >= ``threshold``, else to ``weak``."""

    kind = "threshold"

    def __init__(
        self,
        name: str,
        strong: Target,
        weak: Target,
        scorer: ThresholdScorer,
        threshold: float,
        *,
        ood: NearestNeighbourOOD | None = None,
        ood_target: Target | None = None,
        ood_min_similarity: float | None = None,
    ) -> None:
        super().__init__(name)
        self.strong, self.weak, self.scorer, self.threshold = strong, weak, scorer, threshold
        if (ood is None) != (ood_target is None):
            raise ConfigError("ood needs both a reference and a target", key="ood")
        if ood is not None and ood.encoder_id != scorer.artefact.meta["encoder"]["model_id"]:
            raise ConfigError(f"the OOD reference was built with encoder {ood.encoder_id!r}", key="ood")
        self.ood, self.ood_target, self.ood_min_similarity = ood, ood_target, ood_min_similarity

    @classmethod
    def from_spec(cls, spec: ThresholdSpec, build: BuildContext) -> ThresholdRouter:
        try:
            where = resolve_artefact(spec.artefact, build.config_dir)
            artefact = ThresholdArtefact.load(where)
        except ModelLoadError as exc:
            raise ConfigError(str(exc), key="artefact") from None
        ood = None
        if spec.ood is not None:
            if not (where / OOD_FILE).is_file():
                raise ConfigError(f"no OOD reference at {where / OOD_FILE}", key=f"routers.{spec.name}.ood")
            try:
                ood = NearestNeighbourOOD.load(where / OOD_FILE)
            except ModelLoadError as exc:
                raise ConfigError(str(exc), key="ood") from None
        encoder = build.encoder_factory() if build.encoder_factory else None
        if encoder is not None and encoder.model_id != artefact.meta["encoder"]["model_id"]:
            encoder = None
        scorer = ThresholdScorer(artefact, encoder)
        threshold = (
            spec.threshold
            if spec.threshold is not None
            else scorer.threshold_for_share(spec.strong_share or 0.0)
        )
        return cls(
            spec.name,
            Target.parse(spec.strong),
            Target.parse(spec.weak),
            scorer,
            threshold,
            ood=ood,
            ood_target=Target.parse(spec.ood.target) if spec.ood is not None else None,
            ood_min_similarity=spec.ood.min_similarity if spec.ood is not None else None,
        )

    def out_of_distribution(
        self, request: ChatRequest, ctx: RouteContext | None, vector: Callable[[], np.ndarray[Any, Any]]
    ) -> Decision | None:
        """The decision to send ``request`` to ``ood.target``, or None when the head may judge it."""
        if self.ood is None or self.ood_target is None or request.has_image:
            return None
        verdict = self.ood.check(request.last_user_text, vector, min_similarity=self.ood_min_similarity)
        if not verdict.out:
            return None
        if ctx is not None and (
            incapable(self.ood_target, request, ctx) is not None or unavailable(self.ood_target, request, ctx)
        ):
            return None  # the target cannot take it (shape, context, breaker): the score decides as usual
        decision = self.decision(
            self.ood_target,
            f"{verdict.reason}; sent to {self.ood_target.name}",
            ood=True,
            ood_similarity=None if verdict.similarity is None else round(verdict.similarity, 4),
            artefact=self.scorer.version,
        )
        cand = Candidate(name=str(self.ood_target), accepted=True, reason=verdict.reason, score=verdict.similarity)
        return decision.model_copy(update={"candidates": [cand]})

    def _score(self, request: ChatRequest, ctx: RouteContext | None) -> Decision | float:
        """The OOD decision, or the strong-need score; the prompt is encoded once for both."""
        text = request.last_user_text
        vec: list[np.ndarray[Any, Any]] = []

        def vector() -> np.ndarray[Any, Any]:
            if not vec:
                vec.append(self.scorer._get_encoder().encode([text])[0])
            return vec[0]

        if (ood := self.out_of_distribution(request, ctx, vector)) is not None:
            return ood
        return float(self.scorer.score_vectors(vector()[None, :])[0])

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        scored = await asyncio.to_thread(self._score, request, ctx)
        if isinstance(scored, Decision):
            return scored
        value = scored
        strong = value >= self.threshold
        ranked = [self.strong, self.weak] if strong else [self.weak, self.strong]
        index, skipped = (0, []) if ctx is None else first_capable(ranked, request, ctx)  # the other when incapable
        target = ranked[index or 0]
        note = f"; {ranked[0].name} cannot serve this request, using {target.name}" if index == 1 else ""
        decision = self.decision(
            target,
            f"strong-need score {value:.3f} {'>=' if strong else '<'} threshold {self.threshold:.3f}{note}",
            score=value,
            threshold=self.threshold,
            artefact=self.scorer.version,
        )
        return decision.model_copy(update={"candidates": skipped}) if skipped else decision
