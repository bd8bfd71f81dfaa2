"""``kind: threshold`` — strong or weak model by a learned "strong model needed" score.

A trained artefact (a directory: ``router.json`` + ``weights.npz``, no pickle)
maps a prompt's MiniLM embedding to a score; prompts scoring at or above the
threshold go to the strong model. The threshold is set directly or as the
target share of strong calls, read from the score quantiles recorded at
training time (``modelyard calibrate`` recomputes them on your own prompts).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.config.routers.threshold import ThresholdSpec
from modelyard.encoders.base import Encoder
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.targets import first_capable
from modelyard.routing.threshold_heads import Head, load_head, score
from modelyard.types import ChatRequest, Decision, Target

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


@dataclass
class ThresholdArtefact:
    """A versioned score model: JSON metadata plus numpy arrays."""

    meta: dict[str, Any]
    head: Head

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = self.head.arrays()
        np.savez_compressed(directory / "weights.npz", **arrays)  # type: ignore[arg-type]
        digest = hashlib.sha256((directory / "weights.npz").read_bytes()).hexdigest()
        meta = {**self.meta, "format": ARTEFACT_FORMAT, "weights_sha256": digest}
        meta["head"] = {"kind": self.head.kind, "params": self.head.params}
        (directory / "router.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ThresholdArtefact:
        meta_path = directory / "router.json"
        if not meta_path.is_file():
            raise ModelLoadError(f"threshold artefact missing: {meta_path}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != ARTEFACT_FORMAT:
            raise ModelLoadError(f"{meta_path}: format {meta.get('format')!r}, expected {ARTEFACT_FORMAT}")
        weights = directory / "weights.npz"
        if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("weights_sha256"):
            raise ModelLoadError(f"{weights}: checksum does not match router.json")
        with np.load(weights, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        head = load_head(meta["head"]["kind"], arrays, meta["head"]["params"])
        return cls(meta, head)


def resolve_artefact(ref: str, base: Path | None = None) -> Path:
    """A path (relative to ``base``) or the name of a shipped artefact."""
    path = Path(ref)
    for candidate in ([base / path] if base else []) + [path, BUILTIN_DIR / ref]:
        if (candidate / "router.json").is_file():
            return candidate
    raise ModelLoadError(f"no threshold artefact at {ref!r} (looked in {base or '.'} and {BUILTIN_DIR})")


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
        self, name: str, strong: Target, weak: Target, scorer: ThresholdScorer, threshold: float
    ) -> None:
        super().__init__(name)
        self.strong, self.weak, self.scorer, self.threshold = strong, weak, scorer, threshold

    @classmethod
    def from_spec(cls, spec: ThresholdSpec, build: BuildContext) -> ThresholdRouter:
        try:
            artefact = ThresholdArtefact.load(resolve_artefact(spec.artefact, build.config_dir))
        except ModelLoadError as exc:
            raise ConfigError(str(exc), key="artefact") from None
        encoder = build.encoder_factory() if build.encoder_factory else None
        if encoder is not None and encoder.model_id != artefact.meta["encoder"]["model_id"]:
            encoder = None
        scorer = ThresholdScorer(artefact, encoder)
        threshold = (
            spec.threshold
            if spec.threshold is not None
            else scorer.threshold_for_share(spec.strong_share or 0.0)
        )
        return cls(spec.name, Target.parse(spec.strong), Target.parse(spec.weak), scorer, threshold)

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        text = request.last_user_text
        value = float((await asyncio.to_thread(self.scorer.score, [text]))[0])
        strong = value >= self.threshold
        ranked = [self.strong, self.weak] if strong else [self.weak, self.strong]
        index, skipped = first_capable(ranked, request, ctx)  # the other one when the pick cannot serve this shape
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
