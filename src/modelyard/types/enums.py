"""Closed vocabularies shared by every layer."""

from __future__ import annotations

from enum import Enum

__all__ = ["Family", "Modality", "PrivacyTier"]


class Family(str, Enum):
    """The eight model families modelyard routes between."""

    SLM = "slm"  # small language model: cheap, fast text
    LLM = "llm"  # large dense language model: hard reasoning
    MOE = "moe"  # mixture-of-experts LLM: large capacity at lower active cost
    MLM = "mlm"  # masked LM (BERT family): embeddings, classification
    VLM = "vlm"  # vision-language model: images in, text out
    LAM = "lam"  # large action model: multi-step actions
    SAM = "sam"  # segment-anything: pixel masks
    LCM = "lcm"  # latent-consistency model: fast image generation


class Modality(str, Enum):
    """What a model takes in or gives out."""

    TEXT = "text"
    IMAGE = "image"
    ACTION = "action"
    MASK = "mask"
    EMBEDDING = "embedding"


class PrivacyTier(str, Enum):
    """Where the data goes, most private first.

    A request that requires ``private`` may use ``device`` or ``private`` models,
    never ``third_party`` ones.
    """

    DEVICE = "device"
    PRIVATE = "private"
    THIRD_PARTY = "third_party"

    @property
    def rank(self) -> int:
        return _PRIVACY_RANK[self]

    def allows(self, model_tier: PrivacyTier) -> bool:
        """True if a model of ``model_tier`` may see data that requires ``self``."""
        return model_tier.rank <= self.rank


_PRIVACY_RANK = {PrivacyTier.DEVICE: 0, PrivacyTier.PRIVATE: 1, PrivacyTier.THIRD_PARTY: 2}
