"""``kind: classifier`` — embed the request with the local MiniLM, classify it with a trained head.

Labels are families (``slm``, ``vlm``…) or model names; ``targets`` can remap them.
Below ``confidence_floor`` the router does not trust its own pick and sends the
request to ``safe_target`` (default ``llm``), saying so in the decision.

With ``ood:`` set, an input unlike the training data (fewer words than any
training text, or a nearest-training-example similarity below the measured floor:
`modelyard.routing.ood`) goes to ``ood.target`` before the head is consulted. The
reference (``ood.npz`` in the artefact directory) names its encoder; the shipped one
uses the static encoder, so the check costs microseconds and never runs MiniLM.
A label whose target cannot serve the request's shape (an ``mlm`` that answers
classification requests only, asked for free chat) is skipped: the next most
probable label whose target can is taken, and the skipped one is a rejected
candidate with the reason (`modelyard.routing.targets.first_capable`).

With ``fast_artefact`` set the router has two stages: a head over the static
encoder distilled from MiniLM (microseconds at any length) decides when its top
probability reaches ``fast_confidence``; otherwise the MiniLM head decides as in
the single-stage router. ``details["stage"]`` says which one did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelyard.config.routers.classifier import ClassifierSpec
from modelyard.encoders.base import Encoder
from modelyard.errors import ConfigError, ModelLoadError
from modelyard.routing.base import BuildContext, RouteContext, Router
from modelyard.routing.classifier.artefact import DEFAULT_DIR, DEFAULT_STATIC_DIR, OOD_FILE, ClassifierArtefact
from modelyard.routing.classifier.head import FloatArray
from modelyard.routing.embedding_cache import query_vector
from modelyard.routing.ood import NearestNeighbourOOD
from modelyard.routing.targets import first_capable, incapable
from modelyard.types import Candidate, ChatRequest, Decision, Target

__all__ = ["ClassifierRouter", "ClassifierSpec", "TextClassifier", "resolve_artefact"]


def resolve_artefact(ref: str, base: Path | None = None) -> Path:
    """``default`` / ``default-static`` (the shipped heads), or a path relative to ``base`` or the cwd."""
    if ref == "default":
        return DEFAULT_DIR
    if ref == "default-static":
        return DEFAULT_STATIC_DIR
    path = Path(ref).expanduser()
    for candidate in ([base / path] if base and not path.is_absolute() else []) + [path]:
        if candidate.exists():
            return candidate
    raise ModelLoadError(f"no classifier router at {ref!r} (looked in {base or '.'})")


DEFAULT_FAST_CONFIDENCE = 0.8


def _ood_encoder(encoder_id: str, classifier: TextClassifier, fast: TextClassifier | None) -> Encoder:
    """The encoder an OOD reference was built with: the head's, the fast stage's, or the packaged static one."""
    for candidate in (classifier, fast):
        if candidate is not None and candidate.encoder.model_id == encoder_id:
            return candidate.encoder
    from modelyard.encoders.static import default_static_encoder

    static = default_static_encoder()
    if static.model_id != encoder_id:
        raise ModelLoadError(
            f"the OOD reference was built with encoder {encoder_id!r}, which is neither the classifier's, "
            "the fast stage's nor the packaged static encoder; rebuild it with "
            "`python -m modelyard.routing.classifier.ood_build`"
        )
    return static
_STAGE_NAMES = {"fast": "static stage", "full": "MiniLM"}


def _static_classifier(artefact: ClassifierArtefact) -> TextClassifier:
    """The fast stage's head bound to the packaged static encoder (the only one shipped)."""
    from modelyard.encoders.static import default_static_encoder

    encoder = default_static_encoder()
    if artefact.encoder_id != encoder.model_id:
        raise ModelLoadError(
            f"fast_artefact was trained on encoder {artefact.encoder_id!r}, not the packaged static encoder "
            f"{encoder.model_id!r}; retrain it with `python -m modelyard.routing.classifier.two_stage`"
        )
    return TextClassifier(artefact, encoder)


def _calibrated(fast: TextClassifier | None) -> float:
    """The threshold `two_stage` chose by cross-validation and stored with the fast head."""
    if fast is None:
        return DEFAULT_FAST_CONFIDENCE
    chosen = fast.artefact.metrics.get("two_stage_cv", {}).get("chosen")
    return float(chosen) if isinstance(chosen, int | float) else DEFAULT_FAST_CONFIDENCE


class TextClassifier:
    """An artefact bound to a compatible encoder: texts in, label probabilities out."""

    def __init__(self, artefact: ClassifierArtefact, encoder: Encoder | None = None) -> None:
        if encoder is None:
            from modelyard.encoders import default_encoder

            encoder = default_encoder()
        artefact.check_encoder(encoder.model_id)
        self.artefact = artefact
        self.encoder = encoder
        self.labels = list(artefact.labels)

    @classmethod
    def load(cls, ref: str | Path = "default", encoder: Encoder | None = None) -> TextClassifier:
        return cls(ClassifierArtefact.load(resolve_artefact(str(ref))), encoder)

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return self.artefact.predict_proba(self.encoder.encode(list(texts)))

    def classify(self, text: str) -> tuple[str, float]:
        probs = self.predict_proba([text])[0]
        best = int(probs.argmax())
        return self.labels[best], float(probs[best])


class ClassifierRouter(Router):
    """Picks the most probable label; escalates to ``safe_target`` when unsure."""

    kind = "classifier"

    def __init__(
        self,
        name: str,
        classifier: TextClassifier,
        *,
        confidence_floor: float = 0.5,
        safe_target: Target | str = "llm",
        targets: dict[str, str] | None = None,
        image_labels: Sequence[str] | None = None,
        max_chars: int | None = None,
        fast: TextClassifier | None = None,
        fast_confidence: float = DEFAULT_FAST_CONFIDENCE,
        ood: NearestNeighbourOOD | None = None,
        ood_target: Target | str | None = None,
        ood_min_similarity: float | None = None,
        ood_encoder: Encoder | None = None,
    ) -> None:
        super().__init__(name)
        if (ood is None) != (ood_target is None):
            raise ConfigError("ood needs both a reference and a target", key="ood")
        if ood is not None:
            ood_encoder = ood_encoder or _ood_encoder(ood.encoder_id, classifier, fast)
            if ood_encoder.model_id != ood.encoder_id:
                raise ConfigError(
                    f"the OOD reference was built with encoder {ood.encoder_id!r}, not {ood_encoder.model_id!r}; "
                    "rebuild it with `python -m modelyard.routing.classifier.ood_build`",
                    key="ood",
                )
        self.ood = ood
        self.ood_encoder = ood_encoder
        self.ood_target = Target.parse(ood_target) if isinstance(ood_target, str) else ood_target
        self.ood_min_similarity = ood_min_similarity
        self.classifier = classifier
        self.max_chars = max_chars
        if fast is not None and fast.labels != classifier.labels:
            raise ConfigError(
                f"fast_artefact labels {fast.labels} differ from the artefact's {classifier.labels}",
                key="fast_artefact",
            )
        self.fast = fast
        self.fast_confidence = fast_confidence
        self.confidence_floor = confidence_floor
        self.safe_target = Target.parse(safe_target) if isinstance(safe_target, str) else safe_target
        labels = classifier.labels
        targets = targets or {}
        if unknown := sorted(set(targets) - set(labels)):
            raise ConfigError(f"targets names labels the classifier does not have: {unknown}", key="targets")
        self.targets = {label: Target.parse(targets.get(label, label)) for label in labels}
        self._image_mask: np.ndarray | None = None
        if image_labels is not None:
            if unknown := sorted(set(image_labels) - set(labels)):
                raise ConfigError(f"image_labels not among the classifier's labels: {unknown}", key="image_labels")
            self._image_mask = np.array([label in image_labels for label in labels])

    @classmethod
    def from_spec(cls, spec: ClassifierSpec, build: BuildContext) -> ClassifierRouter:
        try:
            artefact = ClassifierArtefact.load(resolve_artefact(spec.artefact, build.config_dir))
            encoder = build.encoder_factory() if build.encoder_factory else None
            if encoder is not None and encoder.model_id != artefact.encoder_id:
                encoder = None  # the shared encoder is another model: use the one the head needs
            classifier = TextClassifier(artefact, encoder)
        except ModelLoadError as exc:
            raise ConfigError(str(exc), key="artefact") from None
        fast = None
        if spec.fast_artefact is not None:
            try:
                fast = _static_classifier(
                    ClassifierArtefact.load(resolve_artefact(spec.fast_artefact, build.config_dir))
                )
            except ModelLoadError as exc:
                raise ConfigError(str(exc), key="fast_artefact") from None
        ood = None
        if spec.ood is not None:
            where = resolve_artefact(spec.artefact, build.config_dir)
            path = (where if where.is_dir() else where.parent) / OOD_FILE
            if not path.is_file():
                raise ConfigError(
                    f"no OOD reference at {path}; build one with `python -m modelyard.routing.classifier.ood_build`",
                    key=f"routers.{spec.name}.ood",
                )
            try:
                ood = NearestNeighbourOOD.load(path)
                ood_encoder = _ood_encoder(ood.encoder_id, classifier, fast)
            except ModelLoadError as exc:
                raise ConfigError(str(exc), key=f"routers.{spec.name}.ood") from None
        return cls(
            spec.name,
            classifier,
            confidence_floor=spec.confidence_floor,
            safe_target=spec.safe_target,
            targets=spec.targets,
            image_labels=spec.image_labels,
            max_chars=spec.max_chars,
            fast=fast,
            fast_confidence=spec.fast_confidence if spec.fast_confidence is not None else _calibrated(fast),
            ood=ood,
            ood_target=spec.ood.target if spec.ood is not None else None,
            ood_min_similarity=spec.ood.min_similarity if spec.ood is not None else None,
            ood_encoder=ood_encoder if ood is not None else None,
        )

    def probabilities(self, text: str, has_image: bool, ctx: RouteContext | None = None) -> FloatArray:
        """Label probabilities for one text, restricted to ``image_labels`` when an image is attached."""
        return self._probabilities(self.classifier, text, has_image, ctx)

    def staged_probabilities(
        self, text: str, has_image: bool, ctx: RouteContext | None = None
    ) -> tuple[FloatArray, str, float | None]:
        """(probabilities, deciding stage ``fast``/``full``, the fast stage's top probability or None)."""
        if self.fast is None:
            return self.probabilities(text, has_image, ctx), "full", None
        probs = self._probabilities(self.fast, text, has_image, ctx)
        fast_top = float(probs.max())
        if fast_top >= self.fast_confidence:
            return probs, "fast", fast_top
        return self.probabilities(text, has_image, ctx), "full", fast_top

    def _probabilities(
        self, classifier: TextClassifier, text: str, has_image: bool, ctx: RouteContext | None
    ) -> FloatArray:
        if self.max_chars is not None:
            text = text[: self.max_chars]  # the task is stated up front; the encoder cost grows with length
        vec = query_vector(classifier.encoder, text, ctx.cache if ctx is not None else None)
        probs = classifier.artefact.predict_proba(vec[None, :])[0]
        if has_image and self._image_mask is not None:
            probs = np.where(self._image_mask, probs, 0.0)
            total = float(probs.sum())
            probs = probs / total if total > 0 else self._image_mask / self._image_mask.sum()
        return np.asarray(probs, dtype=np.float32)

    def out_of_distribution(self, request: ChatRequest, ctx: RouteContext | None = None) -> Decision | None:
        """The decision to send ``request`` to ``ood.target``, or None when it is in distribution."""
        if self.ood is None or self.ood_target is None or request.has_image:
            return None  # with an image the text is a caption to the picture, not the whole request
        text = request.last_user_text
        if self.max_chars is not None:
            text = text[: self.max_chars]
        cache = ctx.cache if ctx is not None else None
        encoder = self.ood_encoder
        assert encoder is not None
        verdict = self.ood.check(
            text,
            lambda: query_vector(encoder, text, cache),
            min_similarity=self.ood_min_similarity,
        )
        if not verdict.out:
            if ctx is not None:
                ctx.cache["ood_similarity"] = verdict.similarity
            return None
        if ctx is not None and (why := incapable(self.ood_target, request, ctx)) is not None:
            ctx.cache["ood_skipped"] = f"{verdict.reason}, but {self.ood_target.name} cannot serve it: {why}"
            return None
        decision = self.decision(
            self.ood_target,
            f"{verdict.reason}; sent to {self.ood_target.name}",
            confidence=None,
            escalated=True,
            ood=True,
            ood_similarity=None if verdict.similarity is None else round(verdict.similarity, 4),
        )
        candidate = Candidate(
            name=str(self.ood_target), accepted=True, reason=verdict.reason, score=verdict.similarity
        )
        return decision.model_copy(update={"candidates": [candidate]})

    def decide_sync(self, request: ChatRequest, ctx: RouteContext | None = None) -> Decision:
        """The whole decision without the event loop (used by `decide` and the latency bench)."""
        ood = self.out_of_distribution(request, ctx)
        if ood is not None:
            return ood
        probs, stage, fast_top = self.staged_probabilities(request.last_user_text, request.has_image, ctx)
        order = [int(i) for i in np.argsort(-probs) if probs[int(i)] > 0.0]
        labels = self.classifier.labels
        best = order[0]
        conf = float(probs[best])
        top = {labels[i]: round(float(probs[i]), 4) for i in order[:3]}
        staged: dict[str, object] = {}
        via = ""
        if self.fast is not None:
            staged = {"stage": stage, "fast_confidence": round(fast_top or 0.0, 4)}
            via = (
                f" [static stage, {fast_top:.2f} >= {self.fast_confidence:.2f}]"
                if stage == "fast"
                else f" [MiniLM stage: static stage unsure, {fast_top:.2f} < {self.fast_confidence:.2f}]"
            )
        if self.ood is not None and ctx is not None and (similarity := ctx.cache.get("ood_similarity")) is not None:
            staged["ood_similarity"] = round(float(similarity), 4)
        chosen, skipped = best, list[Candidate]()
        if conf >= self.confidence_floor and ctx is not None:
            # the most probable label whose target can serve this shape, if it too clears the floor
            ranked = [labels[i] for i in order if probs[i] >= self.confidence_floor]
            index, skipped = first_capable([self.targets[label] for label in ranked], request, ctx, labels=ranked)
            chosen = order[index] if index is not None else -1
        passed = {c.name for c in skipped}
        candidates = [
            *skipped,
            *(
                Candidate(
                    name=labels[i],
                    accepted=(i == chosen and conf >= self.confidence_floor),
                    reason=f"classifier probability ({_STAGE_NAMES[stage]})",
                    score=round(float(probs[i]), 4),
                )
                for i in order[:3]
                if labels[i] not in passed
            ),
        ]
        if ctx is not None and (skipped_ood := ctx.cache.get("ood_skipped")) is not None:
            candidates.insert(0, Candidate(name=str(self.ood_target), accepted=False, reason=str(skipped_ood)))
        if conf < self.confidence_floor or chosen < 0:
            # a request the head placed, in a shape its family cannot take: the OOD target first
            fallbacks = [self.safe_target, self.ood_target]
            if conf < self.confidence_floor:
                why = f"classifier unsure: top label {labels[best]!r} at {conf:.2f} < floor {self.confidence_floor:.2f}"
            else:
                why = (
                    f"classifier: {labels[best]} ({conf:.2f}) cannot serve this request and no other label "
                    f"clears the floor {self.confidence_floor:.2f}"
                )
                fallbacks.reverse()
            fallback, passed_over = self._capable_fallback([t for t in fallbacks if t is not None], request, ctx)
            candidates += passed_over
            capability = {} if conf < self.confidence_floor else {"judged": labels[best]}
            decision = self.decision(
                fallback,
                f"{why}, escalated to {fallback.name}{via}",
                confidence=conf,
                label=labels[best],
                escalated=True,
                top=top,
                **capability,
                **staged,
            )
        elif chosen != best:
            p = float(probs[chosen])
            decision = self.decision(
                self.targets[labels[chosen]],
                f"classifier: {labels[best]} ({conf:.2f}) cannot serve this request; next capable label "
                f"{labels[chosen]} ({p:.2f}){via}",
                confidence=p,
                label=labels[chosen],
                judged=labels[best],
                escalated=False,
                top=top,
                **staged,
            )
        else:
            decision = self.decision(
                self.targets[labels[best]],
                f"classifier: {labels[best]} ({conf:.2f}){via}",
                confidence=conf,
                label=labels[best],
                escalated=False,
                top=top,
                **staged,
            )
        return decision.model_copy(update={"candidates": candidates})

    async def decide(self, request: ChatRequest, ctx: RouteContext) -> Decision:
        return await asyncio.to_thread(self.decide_sync, request, ctx)

    @staticmethod
    def _capable_fallback(
        fallbacks: list[Target], request: ChatRequest, ctx: RouteContext | None
    ) -> tuple[Target, list[Candidate]]:
        """The first of ``fallbacks`` that can serve this shape (context included), and one rejected
        candidate per fallback passed over; none can: the first, and selection says why."""
        if ctx is None:
            return fallbacks[0], []
        index, passed_over = first_capable(fallbacks, request, ctx)
        return fallbacks[index if index is not None else 0], passed_over
