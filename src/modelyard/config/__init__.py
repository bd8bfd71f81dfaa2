"""Configuration: one YAML file declares models, routers and the layers around them."""

from modelyard.config.gateway import GatewayKey, GatewaySettings
from modelyard.config.loader import load_config, load_default_config, parse_config
from modelyard.config.models import PROVIDER_KINDS, Modalities, ModelSpec, Price
from modelyard.config.routers import ROUTER_SPECS, RouterSpec, register_router_spec
from modelyard.config.schema import Config

__all__ = [
    "PROVIDER_KINDS",
    "ROUTER_SPECS",
    "Config",
    "GatewayKey",
    "GatewaySettings",
    "Modalities",
    "ModelSpec",
    "Price",
    "RouterSpec",
    "load_config",
    "load_default_config",
    "parse_config",
    "register_router_spec",
]
