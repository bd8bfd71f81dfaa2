"""Judge specs: the YAML shape of ``judge:`` inside cascade and council routers.

A judge is declared by ``kind``, e.g. ``{kind: heuristic, min_chars: 20}`` or
``{kind: all, of: [{kind: regex, pattern: '^\\d+$'}, {kind: llm, model: big}]}``.
`JUDGE_SPECS` maps each kind to its spec class; `register_judge_spec` lets a
plug-in add one (``modelyard.routing.judges.register_judge`` registers the spec
and the judge class together). Validation errors keep their key path down to
the nested judge (``steps[1].judge.of[0].pattern``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from modelyard.config.routers.base import TargetRef
from modelyard.types import Target

__all__ = [
    "JUDGE_SPECS",
    "ComposeSpec",
    "EmbeddingJudgeSpec",
    "HeuristicJudgeSpec",
    "JsonVerifierSpec",
    "JudgeField",
    "JudgeSpec",
    "LLMJudgeSpec",
    "LogprobJudgeSpec",
    "PythonVerifierSpec",
    "RegexVerifierSpec",
    "parse_judge_spec",
    "register_judge_spec",
]

#: Phrases that usually mean the model declined or did not know (matched case-insensitively).
DEFAULT_REFUSALS = (
    "i can't",
    "i cannot",
    "i can not",
    "i'm unable",
    "i am unable",
    "i don't know",
    "i do not know",
    "i'm not able",
    "as an ai",
    "i'm sorry, but",
)


class JudgeSpec(BaseModel):
    """Fields shared by every judge kind."""

    model_config = ConfigDict(extra="forbid")
    kind: str

    def references(self) -> list[tuple[str, Target]]:
        """(key path relative to this judge, target) for models the judge calls."""
        return []


def parse_judge_spec(value: Any) -> Any:
    """Validate a raw ``judge:`` mapping into the spec class its ``kind`` names."""
    if isinstance(value, JudgeSpec) or not isinstance(value, dict):
        return value
    kind = value.get("kind")
    spec_cls = JUDGE_SPECS.get(str(kind)) if kind is not None else None
    if spec_cls is None:
        kinds = ", ".join(sorted(JUDGE_SPECS))
        msg = f"unknown judge kind {kind!r}" if kind is not None else "required key 'kind' is missing"
        raise PydanticCustomError("judge_kind", "{msg}", {"msg": f"{msg}; one of: {kinds}"})
    try:
        return spec_cls.model_validate(value)
    except ValidationError as exc:
        raise _rewrite(exc, spec_cls) from None


def _rewrite(exc: ValidationError, spec_cls: type[JudgeSpec]) -> ValidationError:
    """Re-raise nested errors with their full location and judge-specific hints.

    The config error formatter walks *declared* field types, which for a judge
    is the `JudgeSpec` base; so "unknown key" hints are written here, where the
    concrete class is known.
    """
    details: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            allowed = ", ".join((f.alias or n) for n, f in spec_cls.model_fields.items() if n != "kind")
            error = PydanticCustomError("judge_key", "unknown key; allowed: {allowed}", {"allowed": allowed})
            details.append({"type": error, "loc": loc, "input": err["input"]})
            continue
        item: InitErrorDetails = {"type": err["type"], "loc": loc, "input": err["input"]}
        if "ctx" in err:
            item["ctx"] = err["ctx"]
        try:  # a built-in error type round-trips; a custom one (from a nested judge) is rebuilt
            ValidationError.from_exception_data(exc.title, [item])
        except KeyError:
            item = {
                "type": PydanticCustomError(err["type"], "{msg}", {"msg": err["msg"]}),
                "loc": loc,
                "input": err["input"],
            }
        details.append(item)
    return ValidationError.from_exception_data(exc.title, details)


#: Use as a field type: a judge spec of any registered kind, parsed from a mapping.
JudgeField = Annotated[SerializeAsAny[JudgeSpec], BeforeValidator(parse_judge_spec)]


class HeuristicJudgeSpec(JudgeSpec):
    """Cheap text checks: empty, too short, too long, truncated, refusal phrases."""

    kind: Literal["heuristic"] = "heuristic"
    min_chars: int = Field(default=1, ge=0)
    max_chars: int | None = Field(default=None, gt=0)
    refusals: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS))
    extra_refusals: list[str] = Field(default_factory=list)
    reject_truncated: bool = Field(default=True, description="fail answers cut off at max_tokens")


class LogprobJudgeSpec(JudgeSpec):
    """Confidence = geometric-mean token probability, where the provider returns log-probs."""

    kind: Literal["logprob"] = "logprob"
    min_tokens: int = Field(default=1, ge=1, description="fewer scored tokens than this = no signal")


class EmbeddingJudgeSpec(JudgeSpec):
    """Cosine similarity between the question and the answer (local MiniLM)."""

    kind: Literal["embedding"] = "embedding"
    max_chars: int = Field(default=2000, gt=0, description="texts are cut to this before encoding")


class LLMJudgeSpec(JudgeSpec):
    """Ask a registry model (or a family) for ``{"score": 0..1, "reason": ...}``."""

    kind: Literal["llm"] = "llm"
    model: TargetRef
    instructions: str | None = Field(default=None, description="replaces the default grading rubric")
    max_tokens: int = Field(default=256, ge=16)
    max_chars: int = Field(default=8000, gt=0, description="question and answer are cut to this")

    @field_validator("model")
    @classmethod
    def _model_or_family(cls, value: str) -> str:
        if Target.parse(value).kind == "router":
            raise ValueError("an LLM judge calls a model or a family, not a router")
        return value

    def references(self) -> list[tuple[str, Target]]:
        return [("model", Target.parse(self.model))]


class JsonVerifierSpec(JudgeSpec):
    """The answer is JSON (code fences allowed) and, if ``schema`` is set, valid against it."""

    kind: Literal["json"] = "json"
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class RegexVerifierSpec(JudgeSpec):
    """The answer matches (or, with ``negate``, does not match) a regular expression."""

    kind: Literal["regex"] = "regex"
    pattern: str
    match: Literal["search", "fullmatch"] = "search"
    ignore_case: bool = False
    negate: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class PythonVerifierSpec(JudgeSpec):
    """A user function ``module:function`` called as ``fn(answer_text, request, **args)``."""

    kind: Literal["python"] = "python"
    callable: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    args: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, description="cap below the request deadline")


class ComposeSpec(JudgeSpec):
    """Combine judges: ``all`` / ``any`` (hard pass/fail, short-circuit), ``mean`` / ``min`` (scores)."""

    kind: Literal["all", "any", "mean", "min"]
    of: list[JudgeField] = Field(min_length=1)
    weights: list[float] | None = Field(default=None, description="for kind: mean; one per judge")

    @model_validator(mode="after")
    def _check_weights(self) -> ComposeSpec:
        if self.weights is not None:
            if self.kind != "mean":
                raise ValueError("weights apply to kind: mean only")
            if len(self.weights) != len(self.of):
                raise ValueError(f"weights has {len(self.weights)} entries for {len(self.of)} judges")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be ≥ 0 with a positive sum")
        return self

    def references(self) -> list[tuple[str, Target]]:
        return [
            (f"of[{i}].{key}", target)
            for i, child in enumerate(self.of)
            for key, target in child.references()
        ]


JUDGE_SPECS: dict[str, type[JudgeSpec]] = {
    "heuristic": HeuristicJudgeSpec,
    "logprob": LogprobJudgeSpec,
    "embedding": EmbeddingJudgeSpec,
    "llm": LLMJudgeSpec,
    "json": JsonVerifierSpec,
    "regex": RegexVerifierSpec,
    "python": PythonVerifierSpec,
    "all": ComposeSpec,
    "any": ComposeSpec,
    "mean": ComposeSpec,
    "min": ComposeSpec,
}


def register_judge_spec(kind: str, spec: type[JudgeSpec]) -> None:
    """Add a judge kind (before configs using it are loaded)."""
    JUDGE_SPECS[kind] = spec
