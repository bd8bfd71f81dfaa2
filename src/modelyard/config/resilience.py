"""``resilience:`` section — fallbacks, breakers, retries, limits, budgets, hedging, shared state.

Every knob is data; `check_resilience` cross-checks it against the models and
routers of the same file (targets exist, fallback chains have no cycle) and
names the key path of the first problem. Defaults keep a plain config's
behaviour: no retries, no fallbacks, no limits, breakers on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.config.values import RedisUrl
from modelyard.errors import ConfigError, ErrorKind
from modelyard.types import Family

__all__ = [
    "BreakerOverride",
    "BreakerSettings",
    "BudgetLimit",
    "BudgetSettings",
    "FallbackChain",
    "HedgeSettings",
    "LimitSettings",
    "ModelLimit",
    "ResilienceSettings",
    "RetrySettings",
    "SafeDefaultSettings",
    "StateSettings",
    "TenantLimit",
    "check_resilience",
]

_NEVER_RETRY = {ErrorKind.AUTH, ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG, ErrorKind.CONTENT_FILTERED}
_DEFAULT_FALLBACK_ON = [
    ErrorKind.TIMEOUT,
    ErrorKind.SERVER,
    ErrorKind.RATE_LIMITED,
    ErrorKind.CONNECTION,
    ErrorKind.MALFORMED,
    ErrorKind.CONTEXT_TOO_LONG,
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FallbackChain(_Strict):
    """Ordered alternatives for one model or router; ``when`` overrides the global trigger kinds.

    YAML accepts the short form ``name: [alt1, alt2]`` too.
    """

    to: list[str] = Field(min_length=1)
    when: list[ErrorKind] | None = Field(default=None, description="error kinds that trigger this chain")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"to": value} if isinstance(value, list) else value


class RetrySettings(_Strict):
    """Retries of one model before any fallback. ``attempts`` counts the first call."""

    attempts: int = Field(default=1, ge=1, le=10)
    base_delay_ms: float = Field(default=100.0, ge=0)
    max_delay_ms: float = Field(default=5_000.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1, description="fraction of each delay drawn at random")
    max_retry_after_s: float = Field(default=30.0, ge=0, description="ignore a Retry-After longer than this")
    retry_on: list[ErrorKind] = Field(
        default_factory=lambda: [
            ErrorKind.TIMEOUT,
            ErrorKind.SERVER,
            ErrorKind.RATE_LIMITED,
            ErrorKind.CONNECTION,
        ]
    )

    @field_validator("retry_on")
    @classmethod
    def _idempotent_only(cls, kinds: list[ErrorKind]) -> list[ErrorKind]:
        bad = sorted(k.value for k in kinds if k in _NEVER_RETRY)
        if bad:
            raise ValueError(f"{', '.join(bad)} must never be retried (the same request fails the same way)")
        return kinds


class BreakerSettings(_Strict):
    """closed → open on ``failure_threshold`` consecutive failures or ``failure_rate`` over
    ``window_s`` (once ``min_calls`` were seen) → half-open after ``cooldown_s`` with
    ``half_open_probes`` probes → closed when they all succeed."""

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window_s: float = Field(default=30.0, gt=0)
    min_calls: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1)
    failure_on: list[ErrorKind] = Field(
        default_factory=lambda: [
            ErrorKind.SERVER,
            ErrorKind.TIMEOUT,
            ErrorKind.CONNECTION,
            ErrorKind.MALFORMED,
            ErrorKind.RATE_LIMITED,
        ]
    )


class BreakerOverride(_Strict):
    """Per-model changes to the default breaker; unset keys inherit."""

    enabled: bool | None = None
    failure_threshold: int | None = Field(default=None, ge=1)
    failure_rate: float | None = Field(default=None, gt=0, le=1)
    window_s: float | None = Field(default=None, gt=0)
    min_calls: int | None = Field(default=None, ge=1)
    cooldown_s: float | None = Field(default=None, gt=0)
    half_open_probes: int | None = Field(default=None, ge=1)
    failure_on: list[ErrorKind] | None = None


class ModelLimit(_Strict):
    """Upstream quota of one model. ``on_limit: skip`` lets routers pass it by; ``wait`` queues."""

    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    on_limit: Literal["skip", "wait"] = "skip"
    max_wait_ms: float = Field(default=2_000.0, ge=0)


class TenantLimit(_Strict):
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)


class LimitSettings(_Strict):
    """Token buckets per model and per tenant (``"*"`` applies to each tenant without its own)."""

    models: dict[str, ModelLimit] = Field(default_factory=dict)
    tenants: dict[str, TenantLimit] = Field(default_factory=dict)


class BudgetLimit(_Strict):
    daily_usd: float | None = Field(default=None, ge=0)
    monthly_usd: float | None = Field(default=None, ge=0)


class BudgetSettings(_Strict):
    """Cost caps. Each call reserves its worst-case cost first and settles the actual after."""

    tenants: dict[str, BudgetLimit] = Field(default_factory=dict)
    per_request_usd: float | None = Field(default=None, ge=0, description="default max_cost of a request")
    on_exceeded: Literal["reject", "cheaper"] = "reject"
    input_margin: float = Field(
        default=1.5, ge=1, description="worst-case input tokens = this × the ~4-chars-a-token estimate"
    )
    default_max_output_tokens: int = Field(
        default=4096, ge=1, description="worst-case output when neither request nor model bounds it"
    )


class SafeDefaultSettings(_Strict):
    """The last resort: an honest apology instead of an error, marked ``finish_reason: safe_default``."""

    enabled: bool = False
    message: str = Field(
        default=(
            "[modelyard safe default] Sorry — no model could answer this request right now. "
            "Please try again shortly."
        ),
        min_length=1,
    )


class HedgeSettings(_Strict):
    """Send a second request to ``alternative`` if the first has not answered after a delay.

    The delay is the model's observed latency quantile ``after_quantile`` once
    ``min_samples`` calls were seen, and ``after_ms`` before that.
    """

    alternative: str
    after_ms: float = Field(default=1_000.0, gt=0)
    after_quantile: float | None = Field(default=None, gt=0, lt=1)
    min_samples: int = Field(default=20, ge=1)


class StateSettings(_Strict):
    """Where breakers, limits and budgets keep their state; ``redis`` shares it across instances."""

    backend: Literal["memory", "redis"] = "memory"
    url: RedisUrl = "redis://127.0.0.1:6379/0"
    prefix: str = Field(default="modelyard", min_length=1)
    refresh_ms: float = Field(
        default=250.0, ge=0, description="how stale a process's view of a shared breaker may get (ms)"
    )
    flush_ms: float = Field(
        default=100.0,
        ge=0,
        description="how long a closed breaker's successes wait in the process before they are written (ms; "
        "failures are written at once; 0 writes every success at once)",
    )


class ResilienceSettings(_Strict):
    fallbacks: dict[str, FallbackChain] = Field(default_factory=dict)
    fallback_on: list[ErrorKind] = Field(default_factory=lambda: list(_DEFAULT_FALLBACK_ON))
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    breakers: dict[str, BreakerOverride] = Field(default_factory=dict, description="per-model overrides")
    limits: LimitSettings = Field(default_factory=LimitSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    safe_default: SafeDefaultSettings = Field(default_factory=SafeDefaultSettings)
    hedge: dict[str, HedgeSettings] = Field(default_factory=dict)
    state: StateSettings = Field(default_factory=StateSettings)

    def breaker_for(self, model: str) -> BreakerSettings:
        override = self.breakers.get(model)
        if override is None:
            return self.breaker
        return self.breaker.model_copy(update=override.model_dump(exclude_none=True))

    def fallback_kinds(self, name: str) -> set[ErrorKind]:
        chain = self.fallbacks.get(name)
        return set(chain.when if chain is not None and chain.when is not None else self.fallback_on)


_FAMILIES = {f.value for f in Family}


def check_resilience(settings: ResilienceSettings, models: set[str], routers: set[str], source: str) -> None:
    """Cross-check names against the file's models and routers; reject fallback cycles."""

    def fail(key: str, reason: str) -> None:
        raise ConfigError(reason, file=source, key=f"resilience.{key}")

    graph: dict[str, list[str]] = {}
    for name, chain in settings.fallbacks.items():
        if name not in models and name not in routers:
            fail(f"fallbacks.{name}", f"{name!r} is not a model or router defined in this file")
        for i, alt in enumerate(chain.to):
            target = alt.removeprefix("family:")
            if alt.startswith("family:") or alt in _FAMILIES:
                if target not in _FAMILIES:
                    fail(f"fallbacks.{name}.to[{i}]", f"unknown family {target!r}")
                continue
            if alt not in models:
                fail(
                    f"fallbacks.{name}.to[{i}]", f"{alt!r} is not a model (fallbacks name models or families)"
                )
            if alt == name:
                fail(f"fallbacks.{name}.to[{i}]", "a model cannot fall back to itself")
            graph.setdefault(name, []).append(alt)
    _reject_cycles(graph, fail)
    for section, names in (("breakers", settings.breakers), ("limits.models", settings.limits.models)):
        for name in names:
            if name not in models:
                fail(f"{section}.{name}", f"{name!r} is not a model defined in this file")
    for name, hedge in settings.hedge.items():
        if name not in models:
            fail(f"hedge.{name}", f"{name!r} is not a model defined in this file")
        if hedge.alternative not in models:
            fail(f"hedge.{name}.alternative", f"{hedge.alternative!r} is not a model defined in this file")
        if hedge.alternative == name:
            fail(f"hedge.{name}.alternative", "a model cannot hedge with itself")


def _reject_cycles(graph: dict[str, list[str]], fail: Any) -> None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                fail(f"fallbacks.{cycle[0]}", f"fallback cycle: {' → '.join(cycle)}")
            if state.get(nxt) is None:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in list(graph):
        if state.get(start) is None:
            visit(start, [start])
