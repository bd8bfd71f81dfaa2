"""Text encoders (the `Encoder` seam), the packaged local MiniLM and the static encoder distilled from it."""

from modelyard.encoders.base import Encoder, Vectors
from modelyard.encoders.minilm import MiniLMEncoder, default_encoder
from modelyard.encoders.static import StaticEncoder, default_static_encoder

__all__ = ["Encoder", "MiniLMEncoder", "StaticEncoder", "Vectors", "default_encoder", "default_static_encoder"]
