"""What a loaded config takes from the environment, for ``modelyard validate``.

Two kinds of environment use:

* ``${…}`` references expanded at load (`Config.env_references`);
* variables the config *names* and reads at run time: each model's
  ``api_key_env`` and a PostgreSQL sink's ``dsn_env`` (always secret).

Where the schema knows a value is needed (URLs, ``upstream_model``, names), an
empty value already fails at load. Everywhere else an empty string may be
meant, so it is a *warning* here, not an error: a reference whose variable is
set but empty and became the value, and a named variable that is unset or
empty. ``modelyard validate --strict`` turns warnings into a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelyard.config.envvars import masked
from modelyard.config.schema import Config
from modelyard.config.telemetry import PostgresSinkSpec

__all__ = ["NamedVariable", "env_warnings", "named_variables"]


@dataclass(frozen=True)
class NamedVariable:
    """A variable the config names (``key`` = its key path); ``value`` is None when unset."""

    key: str
    var: str
    purpose: str
    value: str | None = field(repr=False)

    @property
    def shown(self) -> str:
        return "not set" if self.value is None else masked(self.value, secret=True)


def named_variables(config: Config, env: Mapping[str, str]) -> list[NamedVariable]:
    """``api_key_env`` of every enabled model, then ``dsn_env`` of every PostgreSQL sink."""
    out = [
        NamedVariable(f"models.{name}.api_key_env", spec.api_key_env, f"API key of {name}", env.get(spec.api_key_env))
        for name, spec in config.models.items()
        if spec.api_key_env and spec.enabled
    ]
    for i, sink in enumerate(config.telemetry.sinks):
        if isinstance(sink, PostgresSinkSpec) and config.telemetry.enabled:
            out.append(
                NamedVariable(f"telemetry.sinks[{i}].dsn_env", sink.dsn_env, "PostgreSQL DSN", env.get(sink.dsn_env))
            )
    return out


def env_warnings(config: Config, env: Mapping[str, str]) -> list[str]:
    """One ``key.path: reason`` line per empty reference or unset/empty named variable."""
    warnings = [
        f"{ref.key}: {ref.expression}: {ref.var} is set but empty, so the value is empty "
        f"(unset it or write ${{{ref.var}:-default}} to use a default)"
        for ref in config.env_references
        if ref.empty_from_env
    ]
    for named in named_variables(config, env):
        if not named.value:
            state = "not set" if named.value is None else "set but empty"
            warnings.append(f"{named.key}: {named.var} is {state}; the {named.purpose} will be missing at run time")
    return warnings
