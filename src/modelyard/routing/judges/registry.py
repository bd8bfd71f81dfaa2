"""Judge kinds → judge classes, and building a judge from its spec.

Classes are named as ``"module:Class"`` and imported only when a config uses
the kind, so the embedding judge's ONNX runtime loads only when needed. Each
class has ``from_spec(spec, build) -> Judge``.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelyard.config.routers.judge_specs import JudgeSpec, register_judge_spec
from modelyard.errors import ConfigError
from modelyard.routing.base import BuildContext
from modelyard.routing.judges.base import Judge

__all__ = ["JUDGE_CLASSES", "build_judge", "register_judge"]

_COMPOSE = "modelyard.routing.judges.compose:ComposedJudge"

#: judge kind → "module:Class" (or the class itself, for judges registered from Python).
JUDGE_CLASSES: dict[str, Any] = {
    "heuristic": "modelyard.routing.judges.heuristic:HeuristicJudge",
    "logprob": "modelyard.routing.judges.logprob:LogprobJudge",
    "embedding": "modelyard.routing.judges.embedding:EmbeddingJudge",
    "llm": "modelyard.routing.judges.llm_judge:LLMJudge",
    "json": "modelyard.routing.judges.verifiers:JsonVerifier",
    "regex": "modelyard.routing.judges.verifiers:RegexVerifier",
    "python": "modelyard.routing.judges.verifiers:PythonVerifier",
    "all": _COMPOSE,
    "any": _COMPOSE,
    "mean": _COMPOSE,
    "min": _COMPOSE,
}


def register_judge(kind: str, spec: type[JudgeSpec], judge_class: type[Any]) -> None:
    """Add a custom judge kind usable in YAML as ``judge: {kind: <kind>, ...}``.

    ``spec`` subclasses `JudgeSpec` (with ``kind: Literal["<kind>"]``);
    ``judge_class`` has ``from_spec(spec, build)`` returning an object with
    ``async judge(request, answer, ctx) -> Verdict``. Register before loading
    the config that uses it.
    """
    register_judge_spec(kind, spec)
    JUDGE_CLASSES[kind] = judge_class


def build_judge(spec: JudgeSpec, build: BuildContext, *, key: str = "judge") -> Judge:
    """Construct the judge ``spec`` describes; config errors name ``key`` (relative)."""
    target = JUDGE_CLASSES.get(spec.kind)
    if target is None:
        raise ConfigError(f"no judge class for kind {spec.kind!r}", key=f"{key}.kind")
    if isinstance(target, str):
        module_name, _, cls_name = target.partition(":")
        target = getattr(importlib.import_module(module_name), cls_name)
    try:
        judge = target.from_spec(spec, build)
    except ConfigError as exc:
        raise ConfigError(exc.reason, key=f"{key}.{exc.key}" if exc.key else key) from None
    if not isinstance(judge, Judge):
        raise ConfigError(f"{type(judge).__name__} has no async judge(request, answer, ctx)", key=key)
    return judge  # type: ignore[no-any-return]
