"""Routers: one module per kind, built from YAML specs by `build_routers`."""

from __future__ import annotations

import importlib

from modelyard.config.routers import RouterSpec
from modelyard.errors import ConfigError
from modelyard.routing.base import (
    BuildContext,
    ExecutingRouter,
    Execution,
    ModelCaller,
    RouteContext,
    Router,
)

__all__ = [
    "ROUTER_CLASSES",
    "BuildContext",
    "ExecutingRouter",
    "Execution",
    "ModelCaller",
    "RouteContext",
    "Router",
    "build_routers",
]

#: router kind → "module:Class"; imported only when a config uses the kind.
ROUTER_CLASSES: dict[str, str] = {
    "fixed": "modelyard.routing.fixed:FixedRouter",
    "cascade": "modelyard.routing.cascade:CascadeRouter",
    "council": "modelyard.routing.council:CouncilRouter",
    "rules": "modelyard.routing.rules:RulesRouter",
    "profile": "modelyard.routing.profile:ProfileRouter",
    "threshold": "modelyard.routing.threshold:ThresholdRouter",
    "quality_cost": "modelyard.routing.quality_cost:QualityCostRouter",
    "classifier": "modelyard.routing.classifier.router:ClassifierRouter",
    "semantic": "modelyard.routing.semantic:SemanticRouter",
}


def build_routers(specs: dict[str, RouterSpec], build: BuildContext, *, source: str = "") -> dict[str, Router]:
    routers: dict[str, Router] = {}
    for name, spec in specs.items():
        target = ROUTER_CLASSES.get(spec.kind)
        if target is None:
            raise ConfigError(f"no router class for kind {spec.kind!r}", file=source, key=f"routers.{name}.kind")
        module_name, _, cls_name = target.partition(":")
        cls: type[Router] = getattr(importlib.import_module(module_name), cls_name)
        try:
            routers[name] = cls.from_spec(spec, build)
        except ConfigError as exc:
            if exc.file is None and source:
                raise ConfigError(exc.reason, file=source, key=exc.key or f"routers.{name}") from None
            raise
    return routers
