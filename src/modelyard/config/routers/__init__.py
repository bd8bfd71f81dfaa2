"""Router specs by ``kind``. A new router kind adds its spec class here."""

from __future__ import annotations

from modelyard.config.routers.base import RouterSpec, TargetRef
from modelyard.config.routers.cascade import CascadeSpec
from modelyard.config.routers.classifier import ClassifierSpec
from modelyard.config.routers.council import CouncilSpec
from modelyard.config.routers.fixed import FixedSpec
from modelyard.config.routers.profile import ProfileSpec
from modelyard.config.routers.quality_cost import QualityCostSpec
from modelyard.config.routers.rules import RulesSpec
from modelyard.config.routers.semantic import SemanticSpec
from modelyard.config.routers.threshold import ThresholdSpec

__all__ = ["ROUTER_SPECS", "FixedSpec", "RouterSpec", "TargetRef", "register_router_spec"]

ROUTER_SPECS: dict[str, type[RouterSpec]] = {
    "fixed": FixedSpec,
    "cascade": CascadeSpec,
    "council": CouncilSpec,
    "rules": RulesSpec,
    "profile": ProfileSpec,
    "threshold": ThresholdSpec,
    "quality_cost": QualityCostSpec,
    "classifier": ClassifierSpec,
    "semantic": SemanticSpec,
}


def register_router_spec(kind: str, spec: type[RouterSpec]) -> None:
    """Let a plug-in add a router kind before configs are loaded."""
    ROUTER_SPECS[kind] = spec
