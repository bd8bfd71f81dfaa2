"""Predicates for the rules router: built-in ones, and a registry for your own.

A rule's ``when:`` block is compiled once, at build time, into a tuple of
`Check` objects (regexes precompiled, custom predicates looked up), so that
deciding a request is a handful of attribute reads and function calls.

Custom predicates are plain functions of the request::

    from modelyard.routing.predicates import register_predicate

    register_predicate("vip", lambda request: request.hints.tenant in VIP_TENANTS)

and are used in YAML as ``when: {custom: vip}``. Register them before the
engine is built: names are resolved when the router is built, and an unknown
name is a configuration error with its key path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modelyard.config.routers.rules import Condition
from modelyard.errors import ConfigError
from modelyard.types import ChatRequest
from modelyard.types.classification import ClassificationTask, read_classification

__all__ = [
    "PREDICATES",
    "Check",
    "Facts",
    "Predicate",
    "PredicateRegistry",
    "compile_condition",
    "first_failure",
    "register_predicate",
]

#: A custom predicate: true when the rule should match this request.
Predicate = Callable[[ChatRequest], bool]


class PredicateRegistry:
    """Named custom predicates. One default instance, `PREDICATES`; tests may make their own."""

    def __init__(self) -> None:
        self._predicates: dict[str, Predicate] = {}

    def register(self, name: str, fn: Predicate, *, replace: bool = False) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"predicate names use letters, digits, '_' and '-' (got {name!r})")
        if name in self._predicates and not replace:
            raise ValueError(f"a predicate named {name!r} is already registered (pass replace=True)")
        self._predicates[name] = fn

    def unregister(self, name: str) -> None:
        self._predicates.pop(name, None)

    def get(self, name: str) -> Predicate | None:
        return self._predicates.get(name)

    def names(self) -> list[str]:
        return sorted(self._predicates)

    def __contains__(self, name: object) -> bool:
        return name in self._predicates


PREDICATES = PredicateRegistry()


def register_predicate(name: str, fn: Predicate, *, replace: bool = False) -> None:
    """Make ``fn`` usable as ``when: {custom: <name>}`` in rules routers."""
    PREDICATES.register(name, fn, replace=replace)


class Facts:
    """A request, with the derived values rules read computed at most once."""

    __slots__ = ("_text", "_tokens", "request")

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self._text: str | None = None
        self._tokens: int | None = None

    @property
    def text(self) -> str:
        """The last user message."""
        if self._text is None:
            self._text = self.request.last_user_text
        return self._text

    @property
    def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self.request.estimate_input_tokens()
        return self._tokens


@dataclass(frozen=True, slots=True)
class Check:
    """One compiled condition: ``label`` says what it requires, for explanations."""

    label: str
    test: Callable[[Facts], bool]


def first_failure(checks: tuple[Check, ...], facts: Facts) -> int:
    """Index of the first check that does not hold, or -1 when all hold."""
    for i, check in enumerate(checks):
        if not check.test(facts):
            return i
    return -1


def _flag(name: str, want: bool, read: Callable[[Facts], bool]) -> Check:
    if want:
        return Check(f"{name}: true", read)
    return Check(f"{name}: false", lambda f: not read(f))


def _one_or_many(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _json_format(f: Facts) -> str | None:
    fmt = f.request.response_format
    return None if fmt is None else str(fmt.get("type", ""))


def _response_format_check(want: str) -> Check:
    label = f"response_format: {want}"
    if want == "none":
        return Check(label, lambda f: f.request.response_format is None)
    if want == "json":
        return Check(label, lambda f: _json_format(f) in ("json_object", "json_schema"))
    return Check(label, lambda f: _json_format(f) == want)


def _checks(cond: Condition, key: str, registry: PredicateRegistry) -> Iterator[Check]:
    """Built-in predicates in a fixed, cheap-first order, then custom ones, then combinators."""
    if cond.needs_pixel_mask is not None:
        yield _flag(
            "needs_pixel_mask", cond.needs_pixel_mask, lambda f: f.request.hints.needs_pixel_mask is True
        )
    if cond.generative_image is not None:
        yield _flag(
            "generative_image", cond.generative_image, lambda f: f.request.hints.is_generative_image is True
        )
    if cond.has_image is not None:
        yield _flag("has_image", cond.has_image, lambda f: f.request.has_image)
    if cond.wants_action is not None:
        yield _flag("wants_action", cond.wants_action, lambda f: f.request.hints.wants_action is True)
    if cond.has_tools is not None:
        yield _flag("has_tools", cond.has_tools, lambda f: bool(f.request.tools))
    if cond.consent_third_party is not None:
        yield _flag(
            "consent_third_party",
            cond.consent_third_party,
            lambda f: f.request.hints.consent_third_party is True,
        )
    if cond.privacy is not None:
        tiers = frozenset(cond.privacy)
        names = ", ".join(sorted(t.value for t in tiers))
        yield Check(f"privacy in [{names}]", lambda f: f.request.hints.privacy in tiers)
    if cond.response_format is not None:
        yield _response_format_check(cond.response_format)
    if cond.tenant is not None:
        tenants = frozenset(_one_or_many(cond.tenant))
        yield Check(f"tenant in [{', '.join(sorted(tenants))}]", lambda f: f.request.hints.tenant in tenants)
    if cond.latency_budget_below_ms is not None:
        limit = cond.latency_budget_below_ms
        yield Check(
            f"latency_budget_below_ms: {limit:g}",
            lambda f: (b := f.request.hints.latency_budget_ms) is not None and b < limit,
        )
    if cond.tokens_below is not None:
        below = cond.tokens_below
        yield Check(f"tokens_below: {below}", lambda f: f.tokens < below)
    if cond.tokens_at_least is not None:
        least = cond.tokens_at_least
        yield Check(f"tokens_at_least: {least}", lambda f: f.tokens >= least)
    if cond.words_below is not None:
        words = cond.words_below
        yield Check(f"words_below: {words}", lambda f: len(f.text.split()) < words)
    if cond.last_user_prefix is not None:
        prefixes = tuple(p.lower() for p in _one_or_many(cond.last_user_prefix))
        longest = max(len(p) for p in prefixes)
        yield Check(
            f"last_user_prefix: {list(prefixes)}",
            lambda f: f.text.lstrip()[:longest].lower().startswith(prefixes),
        )
    if cond.last_user_matches is not None:
        search = re.compile(cond.last_user_matches).search
        yield Check(
            f"last_user_matches: {_short(cond.last_user_matches)}", lambda f: search(f.text) is not None
        )
    if cond.classification_request is not None:
        yield _flag(
            "classification_request",
            cond.classification_request,
            lambda f: isinstance(read_classification(f.request), ClassificationTask),
        )
    if cond.image_quality is not None:
        qualities = frozenset(q.lower() for q in cond.image_quality)
        yield Check(f"image_quality in [{', '.join(sorted(qualities))}]", lambda f: _image_quality(f) in qualities)
    if cond.image_steps_below is not None:
        steps = cond.image_steps_below
        yield Check(f"image_steps_below: {steps}", lambda f: (s := _image_steps(f)) is not None and s < steps)
    if cond.custom is not None:
        for name in _one_or_many(cond.custom):
            fn = registry.get(name)
            if fn is None:
                known = ", ".join(registry.names()) or "none registered"
                raise ConfigError(
                    f"no custom predicate named {name!r} (register it with register_predicate "
                    f"before building the engine; known: {known})",
                    key=f"{key}.custom",
                )
            yield Check(f"custom: {name}", _custom(fn))
    if cond.any is not None:
        groups = tuple(compile_condition(c, f"{key}.any[{i}]", registry) for i, c in enumerate(cond.any))
        labels = " | ".join("{" + ", ".join(c.label for c in g) + "}" for g in groups)
        yield Check(f"any of {labels}", lambda f: any(first_failure(g, f) < 0 for g in groups))
    if cond.unless is not None:
        inner = compile_condition(cond.unless, f"{key}.unless", registry)
        label = ", ".join(c.label for c in inner)
        yield Check(f"unless {{{label}}}", lambda f: first_failure(inner, f) >= 0)


def _image_quality(f: Facts) -> str | None:
    """The generation's requested quality, lower-cased; ``unset`` when it names none; None for other requests."""
    task = f.request.image_task
    if task is None or task.kind != "generate":
        return None
    return (task.quality or "unset").lower()


def _image_steps(f: Facts) -> int | None:
    task = f.request.image_task
    return task.steps if task is not None and task.kind == "generate" else None


def _short(pattern: str, limit: int = 48) -> str:
    """A regex as shown in explanations: quoted, long ones cut."""
    return repr(pattern if len(pattern) <= limit else pattern[: limit - 1] + "…")


def _custom(fn: Predicate) -> Callable[[Facts], bool]:
    return lambda f: bool(fn(f.request))


def compile_condition(
    cond: Condition, key: str = "when", registry: PredicateRegistry | None = None
) -> tuple[Check, ...]:
    """Compile a ``when:`` block. ``key`` is its path, used in configuration errors."""
    return tuple(_checks(cond, key, registry if registry is not None else PREDICATES))
