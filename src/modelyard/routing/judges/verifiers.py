"""User verifiers: exact, checkable requirements — JSON (schema), regex, a Python callable.

Verifiers give hard verdicts (``passed`` True/False). They are the strongest
gate a cascade can have: an answer that must parse as an order object, match
``^\\d{5}$`` or make a test suite pass is either right or escalated.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

from modelyard.config.routers.judge_specs import JsonVerifierSpec, PythonVerifierSpec, RegexVerifierSpec
from modelyard.errors import ConfigError
from modelyard.routing.base import BuildContext, RouteContext
from modelyard.routing.judges.base import Verdict
from modelyard.types import ChatRequest, ChatResponse

__all__ = ["JsonVerifier", "PythonVerifier", "RegexVerifier", "strip_fences"]

_FENCED = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def strip_fences(text: str) -> str:
    """The body of a single fenced code block, or the text itself."""
    match = _FENCED.match(text)
    return match.group(1) if match else text.strip()


class JsonVerifier:
    """Parses the answer as JSON and validates it against ``schema`` (via ``jsonschema``)."""

    kind = "json"

    def __init__(self, spec: JsonVerifierSpec) -> None:
        self.spec = spec
        self._validator: Any = None
        if spec.schema_ is not None:
            try:  # imported by name: optional, and untyped
                jsonschema: Any = importlib.import_module("jsonschema")
                importlib.import_module("jsonschema.validators")
            except ImportError:
                raise ConfigError(
                    "a JSON-schema verifier needs the 'jsonschema' package: pip install jsonschema",
                    key="schema",
                ) from None
            cls = jsonschema.validators.validator_for(spec.schema_)
            try:
                cls.check_schema(spec.schema_)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"not a valid JSON schema: {exc.message}", key="schema") from None
            self._validator = cls(spec.schema_)

    @classmethod
    def from_spec(cls, spec: JsonVerifierSpec, build: BuildContext) -> JsonVerifier:
        return cls(spec)

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        return self.check(answer.text)

    def check(self, text: str) -> Verdict:
        try:
            value = json.loads(strip_fences(text))
        except json.JSONDecodeError as exc:
            return Verdict.check(
                False, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", self.kind
            )
        if self._validator is None:
            return Verdict.check(True, "valid JSON", self.kind)
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return Verdict.check(True, "valid against the schema", self.kind)
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return Verdict.check(
            False, f"schema violation at {where}: {first.message}", self.kind, violations=len(errors)
        )


class RegexVerifier:
    kind = "regex"

    def __init__(self, spec: RegexVerifierSpec) -> None:
        self.spec = spec
        self.pattern = re.compile(spec.pattern, re.IGNORECASE if spec.ignore_case else 0)

    @classmethod
    def from_spec(cls, spec: RegexVerifierSpec, build: BuildContext) -> RegexVerifier:
        return cls(spec)

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        return self.check(answer.text)

    def check(self, text: str) -> Verdict:
        text = text.strip()
        found = (self.pattern.fullmatch if self.spec.match == "fullmatch" else self.pattern.search)(text)
        ok = (found is None) if self.spec.negate else (found is not None)
        verb = {True: "does not match", False: "matches"}[found is None]
        return Verdict.check(ok, f"answer {verb} /{self.spec.pattern}/ ({self.spec.match})", self.kind)


def load_callable(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", key="callable") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{module_name!r} has no callable {attr!r}", key="callable")
    return fn  # type: ignore[no-any-return]


class PythonVerifier:
    """Calls ``fn(answer_text, request, **args)``; sync functions run in a worker thread.

    The function returns a bool, a score in [0, 1], ``(bool | score, reason)``,
    or a `Verdict`. If it raises, the answer fails with the exception as reason.
    A sync function still running at its timeout is abandoned, not killed (a
    thread cannot be), so make long checks (test runs) enforce their own limit.
    """

    kind = "python"

    def __init__(self, spec: PythonVerifierSpec, fn: Callable[..., Any]) -> None:
        self.spec = spec
        self.fn = fn
        self.source = f"python:{spec.callable}"

    @classmethod
    def from_spec(cls, spec: PythonVerifierSpec, build: BuildContext) -> PythonVerifier:
        return cls(spec, load_callable(spec.callable))

    async def judge(self, request: ChatRequest, answer: ChatResponse, ctx: RouteContext) -> Verdict:
        timeout = ctx.deadline.cap(self.spec.timeout_s)
        try:
            async with asyncio.timeout(timeout):
                if inspect.iscoroutinefunction(self.fn):
                    result = await self.fn(answer.text, request, **self.spec.args)
                else:
                    result = await asyncio.to_thread(self.fn, answer.text, request, **self.spec.args)
        except TimeoutError:
            return Verdict.check(False, f"verifier did not finish within {timeout:.3f}s", self.source)
        except Exception as exc:  # a user function's failure is a failed check, not a crash
            return Verdict.check(False, f"verifier raised {type(exc).__name__}: {exc}"[:300], self.source)
        return self._verdict(result)

    def _verdict(self, result: Any) -> Verdict:
        reason = ""
        if isinstance(result, Verdict):
            return result
        if isinstance(result, tuple) and len(result) == 2:
            result, reason = result[0], str(result[1])
        if isinstance(result, bool):
            return Verdict.check(
                result, reason or ("verifier passed" if result else "verifier failed"), self.source
            )
        if isinstance(result, int | float):
            return Verdict(float(result), None, reason or f"verifier score {float(result):.3f}", self.source)
        return Verdict.check(
            False, f"verifier returned {type(result).__name__}, expected bool or score", self.source
        )
