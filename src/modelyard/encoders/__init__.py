"""Text encoders (the `Encoder` seam) and the packaged local MiniLM."""

from modelyard.encoders.base import Encoder, Vectors
from modelyard.encoders.minilm import MiniLMEncoder, default_encoder

__all__ = ["Encoder", "MiniLMEncoder", "Vectors", "default_encoder"]
