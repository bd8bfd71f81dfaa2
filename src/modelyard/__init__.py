"""modelyard: decide, per request, which model answers — cheaply, observably, resiliently."""

from modelyard.config import Config, ModelSpec, load_config, load_default_config
from modelyard.engine import Completion, Engine, StreamSession
from modelyard.errors import ConfigError, ModelyardError, ProviderError
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    Decision,
    EmbeddingRequest,
    Family,
    Message,
    PrivacyTier,
    RoutingHints,
    Target,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "Config",
    "ConfigError",
    "Decision",
    "EmbeddingRequest",
    "Engine",
    "Family",
    "Message",
    "ModelSpec",
    "ModelyardError",
    "PrivacyTier",
    "ProviderError",
    "RoutingHints",
    "StreamSession",
    "Target",
    "Usage",
    "__version__",
    "load_config",
    "load_default_config",
]
