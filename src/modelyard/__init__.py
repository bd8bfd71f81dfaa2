"""modelyard: decide, per request, which model answers — cheaply, observably, resiliently.

The names below are imported on first use (`modelyard._lazy`): ``import modelyard``
alone loads no engine, provider or HTTP client, so a process that needs one corner
of modelyard (the telemetry writer process, ``modelyard --help``) pays for that corner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
    from modelyard.config import Config as Config
    from modelyard.config import ModelSpec as ModelSpec
    from modelyard.config import load_config as load_config
    from modelyard.config import load_default_config as load_default_config
    from modelyard.engine import Completion as Completion
    from modelyard.engine import Engine as Engine
    from modelyard.engine import StreamSession as StreamSession
    from modelyard.errors import ConfigError as ConfigError
    from modelyard.errors import ModelyardError as ModelyardError
    from modelyard.errors import ProviderError as ProviderError
    from modelyard.types import ChatRequest as ChatRequest
    from modelyard.types import ChatResponse as ChatResponse
    from modelyard.types import Decision as Decision
    from modelyard.types import EmbeddingRequest as EmbeddingRequest
    from modelyard.types import Family as Family
    from modelyard.types import Message as Message
    from modelyard.types import PrivacyTier as PrivacyTier
    from modelyard.types import RoutingHints as RoutingHints
    from modelyard.types import Target as Target
    from modelyard.types import Usage as Usage

__version__ = "0.1.0"

#: public name → the module it is imported from, on first access.
_EXPORTS: dict[str, str] = {
    "ChatRequest": "modelyard.types",
    "ChatResponse": "modelyard.types",
    "Completion": "modelyard.engine",
    "Config": "modelyard.config",
    "ConfigError": "modelyard.errors",
    "Decision": "modelyard.types",
    "EmbeddingRequest": "modelyard.types",
    "Engine": "modelyard.engine",
    "Family": "modelyard.types",
    "Message": "modelyard.types",
    "ModelSpec": "modelyard.config",
    "ModelyardError": "modelyard.errors",
    "PrivacyTier": "modelyard.types",
    "ProviderError": "modelyard.errors",
    "RoutingHints": "modelyard.types",
    "StreamSession": "modelyard.engine",
    "Target": "modelyard.types",
    "Usage": "modelyard.types",
    "load_config": "modelyard.config",
    "load_default_config": "modelyard.config",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
