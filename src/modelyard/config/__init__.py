"""Configuration: one YAML file declares models, routers and the layers around them.

The names below are imported on first use (`modelyard._lazy`), so importing one
spec module (``modelyard.config.telemetry``) does not load the loader and the
gateway settings (and with them the providers, aiohttp and numpy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
    from modelyard.config.gateway import GatewayKey as GatewayKey
    from modelyard.config.gateway import GatewaySettings as GatewaySettings
    from modelyard.config.loader import load_config as load_config
    from modelyard.config.loader import load_default_config as load_default_config
    from modelyard.config.loader import parse_config as parse_config
    from modelyard.config.models import PROVIDER_KINDS as PROVIDER_KINDS
    from modelyard.config.models import Modalities as Modalities
    from modelyard.config.models import ModelSpec as ModelSpec
    from modelyard.config.models import Price as Price
    from modelyard.config.routers import ROUTER_SPECS as ROUTER_SPECS
    from modelyard.config.routers import RouterSpec as RouterSpec
    from modelyard.config.routers import register_router_spec as register_router_spec
    from modelyard.config.schema import Config as Config

#: public name → the module it is imported from, on first access.
_EXPORTS: dict[str, str] = {
    "PROVIDER_KINDS": "modelyard.config.models",
    "ROUTER_SPECS": "modelyard.config.routers",
    "Config": "modelyard.config.schema",
    "GatewayKey": "modelyard.config.gateway",
    "GatewaySettings": "modelyard.config.gateway",
    "Modalities": "modelyard.config.models",
    "ModelSpec": "modelyard.config.models",
    "Price": "modelyard.config.models",
    "RouterSpec": "modelyard.config.routers",
    "load_config": "modelyard.config.loader",
    "load_default_config": "modelyard.config.loader",
    "parse_config": "modelyard.config.loader",
    "register_router_spec": "modelyard.config.routers",
}

__all__ = list(_EXPORTS)

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
