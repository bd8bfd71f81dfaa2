"""Load a YAML configuration: parse, expand env vars, validate, cross-check.

Every failure raises `ConfigError` whose message is one line naming the file,
the key path and the reason, e.g.
``prod.yaml: models.gpt-mini.price.input: must be ≥ 0``. ``${…}`` references
follow the shell (`modelyard.config.envvars`); the loaded `Config` lists them
in ``env_references``. Values of secret-looking references never appear in
error messages, and an error at a key that holds a reference says how that
reference resolved (``${VLLM_URL}: set but empty``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modelyard.config.envvars import EnvReference, expand_tree
from modelyard.config.errors_format import first_error
from modelyard.config.pipelines import check_pipeline_references
from modelyard.config.resilience import check_resilience
from modelyard.config.routers import ROUTER_SPECS, RouterSpec
from modelyard.config.schema import Config
from modelyard.errors import ConfigError
from modelyard.secrets import SecretScrubber
from modelyard.types import Family, Target

__all__ = ["DEFAULT_CONFIG", "load_config", "load_default_config", "parse_config"]

DEFAULT_CONFIG = "default.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_FAMILIES = {f.value for f in Family}


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror or exc})", file=source) from None
    return parse_config(text, source=source, env=env)


def load_default_config(*, env: Mapping[str, str] | None = None) -> Config:
    """The embedded default: runs offline right after install."""
    ref = resources.files("modelyard.config.defaults").joinpath(DEFAULT_CONFIG)
    return parse_config(ref.read_text(encoding="utf-8"), source=f"<embedded>/{DEFAULT_CONFIG}", env=env)


def parse_config(text: str, *, source: str = "<string>", env: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text; ``source`` names it in errors."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(f"invalid YAML at {where}: {exc.problem}", file=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=source) from None
    if not isinstance(raw, dict):
        raise ConfigError("top level must be a mapping with a 'models' key", file=source)
    raw, references = expand_tree(raw, env if env is not None else os.environ, source)
    try:
        config = _validate(raw, source)
    except ConfigError as exc:
        raise _explained(exc, references) from None
    config._env_references = tuple(references)
    return config


def _explained(exc: ConfigError, references: list[EnvReference]) -> ConfigError:
    """``exc`` with secret values masked and the references at its key explained."""
    scrub = SecretScrubber(ref.value for ref in references if ref.secret)
    reason = scrub(exc.reason)
    notes = [f"{ref.expression}: {ref.how}" for ref in references if exc.key and ref.key == exc.key]
    if notes:
        reason += "; " + "; ".join(notes)
    return ConfigError(reason, file=exc.file, key=exc.key)


def _validate(raw: dict[str, Any], source: str) -> Config:
    routers_raw = raw.pop("routers", None) or {}
    if not isinstance(routers_raw, dict):
        raise ConfigError("must be a mapping of router name to router", file=source, key="routers")
    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as exc:
        key, reason = first_error(exc, Config)
        raise ConfigError(reason, file=source, key=key) from None
    models = {name: spec.model_copy(update={"name": name}) for name, spec in config.models.items()}
    routers = {name: _router_spec(name, body, source) for name, body in routers_raw.items()}
    config = config.model_copy(update={"models": models, "routers": routers})
    _check_names(config)
    _check_references(config)
    return config


def _router_spec(name: str, body: Any, source: str) -> RouterSpec:
    key = f"routers.{name}"
    if not isinstance(body, dict):
        raise ConfigError("must be a mapping with a 'kind' key", file=source, key=key)
    kind = body.get("kind")
    if kind is None:
        raise ConfigError(
            f"required key 'kind' is missing; one of: {', '.join(sorted(ROUTER_SPECS))}",
            file=source,
            key=f"{key}.kind",
        )
    spec_cls = ROUTER_SPECS.get(str(kind))
    if spec_cls is None:
        raise ConfigError(
            f"unknown router kind {kind!r}; one of: {', '.join(sorted(ROUTER_SPECS))}",
            file=source,
            key=f"{key}.kind",
        )
    try:
        spec = spec_cls.model_validate({**body, "name": name})
    except ValidationError as exc:
        sub, reason = first_error(exc, spec_cls)
        raise ConfigError(reason, file=source, key=f"{key}.{sub}" if sub else key) from None
    return spec


def _check_names(config: Config) -> None:
    for section, names in (("models", config.models), ("routers", config.routers)):
        for name in names:
            if not _NAME.match(name):
                raise ConfigError(
                    "names use letters, digits, '.', '_', '/', '-' and start with a letter or digit",
                    file=config.source,
                    key=f"{section}.{name}",
                )
            if name in _FAMILIES:
                raise ConfigError(
                    f"{name!r} is a family name; pick another so 'model: {name}' stays unambiguous",
                    file=config.source,
                    key=f"{section}.{name}",
                )
    for name in config.routers:
        if name in config.models:
            raise ConfigError(
                "a model of the same name exists; models and routers share one namespace",
                file=config.source,
                key=f"routers.{name}",
            )


def _check_references(config: Config) -> None:
    """Every target must exist; routers must not reach themselves."""
    graph: dict[str, list[str]] = {}
    for name, spec in config.routers.items():
        edges = graph.setdefault(name, [])
        for sub, target in spec.references():
            key = f"routers.{name}.{sub}"
            if target.kind == "family":
                if target.name not in _FAMILIES:
                    raise ConfigError(f"unknown family {target.name!r}", file=config.source, key=key)
                continue
            if target.kind == "model" and target.name in config.routers:
                target = Target(kind="router", name=target.name)
            if target.kind == "model" and target.name not in config.models:
                raise ConfigError(
                    f"{target.name!r} is not a model, router or family defined in this file",
                    file=config.source,
                    key=key,
                )
            if target.kind == "router":
                if target.name not in config.routers:
                    raise ConfigError(f"no router named {target.name!r}", file=config.source, key=key)
                edges.append(target.name)
    _reject_cycles(graph, config.source)
    gateway_default = config.gateway.default_model
    explicit = "default_model" in config.gateway.model_fields_set
    if explicit and gateway_default not in config.models and gateway_default not in config.routers:
        raise ConfigError(
            f"{gateway_default!r} is not a model or router defined in this file",
            file=config.source,
            key="gateway.default_model",
        )
    check_resilience(config.resilience, set(config.models), set(config.routers), config.source)
    check_pipeline_references(
        config.pipelines, models=set(config.models), routers=set(config.routers),
        plans=set(config.actions.plans), source=config.source,
    )


def _reject_cycles(graph: dict[str, list[str]], source: str) -> None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
                raise ConfigError(
                    f"router cycle: {' → '.join(cycle)}", file=source, key=f"routers.{cycle[0]}"
                )
            if state.get(nxt) is None:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in graph:
        if state.get(start) is None:
            visit(start, [start])
