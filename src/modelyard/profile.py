"""The task profile: the five properties of the decision framework, read off a request.

Before choosing a model family, map the task to five properties — output space,
modality, latency budget, volume and precision — and let a table (the
``profile`` router) turn that into a family. `derive_profile` does the mapping
with cheap, documented heuristics; explicit hints always win over guesses.

Heuristics, in order of precedence (first that applies wins):

output space
    ``structured``  ``response_format`` asks for JSON (``json_object`` /
                    ``json_schema``), or tool definitions are present.
    ``constrained`` the last user message starts with a task prefix
                    (``classify:``, ``sentiment:``, ``intent:``, ``label:``,
                    ``extract:``, ``detect-language:``), or the caller caps the
                    answer at :data:`CONSTRAINED_MAX_TOKENS` tokens or fewer.
    ``open``        otherwise.
modality
    ``image+text``  ``hints.needs_pixel_mask`` or ``hints.is_generative_image``.
    ``action``      ``hints.wants_action``.
    ``image+text``  the request carries an image, or asks for a picture
                    ("draw me …", see `wants_image_output`).
    ``action``      unless ``hints.wants_action`` is false, the last user
                    message opens with an imperative action verb ("book",
                    "order", "submit" …: :data:`ACTION_VERBS`).
    ``text``        otherwise.
latency budget
    from ``hints.latency_budget_ms``: ≤ 50 → ``<50ms``, ≤ 500 → ``<500ms``,
    anything larger or unset → ``<5s`` (the most relaxed class).
volume
    ``hints.volume_per_day``, else the ``volume_per_day`` argument (route or
    tenant configuration), else unknown, which counts as ``<10K/day``:
    < 10,000 → ``<10K/day``, < 1,000,000 → ``<1M/day``, else ``>1M/day``.
precision
    ``hints.precision``; else ``pixel`` when ``hints.needs_pixel_mask`` is set,
    or when an image comes with a segmentation request ("segment", "mask",
    "cut out" …); else ``approximate`` when the text asks for a rough answer
    ("roughly", "ballpark", "brainstorm" …); else ``high``.

Everything here is pure and takes microseconds: no I/O, no models, no routing.
"""

from __future__ import annotations

import re
from typing import Literal

from modelyard.types import ChatRequest, TaskProfile

__all__ = [
    "ACTION_VERBS",
    "CONSTRAINED_MAX_TOKENS",
    "CONSTRAINED_PREFIXES",
    "LatencyClass",
    "OutputSpace",
    "Precision",
    "ProfileModality",
    "VolumeClass",
    "cost_constrained",
    "derive_profile",
    "latency_class",
    "volume_class",
    "wants_image_output",
]

#: Prefixes that mark a closed-label task (the answer is one of a known set).
CONSTRAINED_PREFIXES = ("classify:", "sentiment:", "intent:", "label:", "extract:", "detect-language:")
#: An answer capped at this many tokens or fewer is treated as constrained.
CONSTRAINED_MAX_TOKENS = 16
#: Imperative verbs that ask for something to be *done*, not explained.
ACTION_VERBS = frozenset(
    {
        "book", "buy", "cancel", "click", "deploy", "download", "email", "fill", "log",
        "navigate", "order", "pay", "purchase", "renew", "reserve", "schedule",
        "send", "sign", "submit", "transfer", "upload",
    }
)  # fmt: skip

OutputSpace = Literal["open", "constrained", "structured"]
ProfileModality = Literal["text", "image+text", "action"]
LatencyClass = Literal["<50ms", "<500ms", "<5s"]
VolumeClass = Literal["<10K/day", "<1M/day", ">1M/day"]
Precision = Literal["approximate", "high", "pixel"]

_JSON_FORMATS = frozenset({"json_object", "json_schema"})
_FIRST_WORD = re.compile(r"\s*(?:please\s+)?([A-Za-z]+)")
_DRAW = re.compile(
    r"^\s*(?:please\s+)?(?:draw|paint|sketch|illustrate|render)\b"
    r"|\b(?:generate|create|make)\s+(?:me\s+)?(?:an?\s+)?(?:image|picture|illustration|drawing|logo)\b",
    re.IGNORECASE,
)
_PIXEL = re.compile(
    r"\b(?:segment(?:ation)?|masks?|cut\s+(?:it\s+|this\s+|them\s+)?out|outline|isolate|"
    r"remove\s+the\s+background|pixel)",
    re.IGNORECASE,
)
_ROUGH = re.compile(
    r"\b(?:roughly|approximately|ballpark|rough\s+(?:idea|estimate|draft)|brainstorm|gist)\b",
    re.IGNORECASE,
)


def latency_class(budget_ms: float | None) -> LatencyClass:
    """``<50ms`` / ``<500ms`` / ``<5s`` for a latency budget in milliseconds."""
    if budget_ms is None or budget_ms > 500:
        return "<5s"
    return "<50ms" if budget_ms <= 50 else "<500ms"


def volume_class(per_day: int | None) -> VolumeClass:
    """``<10K/day`` / ``<1M/day`` / ``>1M/day``; unknown volume counts as low."""
    if per_day is None or per_day < 10_000:
        return "<10K/day"
    return "<1M/day" if per_day < 1_000_000 else ">1M/day"


def wants_image_output(request: ChatRequest) -> bool:
    """True when the caller asks for a picture ("draw me …") rather than about one."""
    if request.hints.is_generative_image is not None:
        return request.hints.is_generative_image
    return _DRAW.search(request.last_user_text) is not None


def cost_constrained(request: ChatRequest) -> bool:
    """True when the caller set a per-request cost cap."""
    return request.hints.max_cost_usd is not None


def _output_space(request: ChatRequest, text: str) -> OutputSpace:
    fmt = request.response_format
    if (fmt is not None and fmt.get("type") in _JSON_FORMATS) or request.tools:
        return "structured"
    if text.lstrip()[:24].lower().startswith(CONSTRAINED_PREFIXES):
        return "constrained"
    limit = request.output_token_limit
    if limit is not None and limit <= CONSTRAINED_MAX_TOKENS:
        return "constrained"
    return "open"


def _modality(request: ChatRequest, text: str) -> ProfileModality:
    hints = request.hints
    if hints.needs_pixel_mask or hints.is_generative_image:
        return "image+text"
    if hints.wants_action:
        return "action"
    if request.has_image or wants_image_output(request):
        return "image+text"
    if hints.wants_action is None:
        match = _FIRST_WORD.match(text)
        if match is not None and match.group(1).lower() in ACTION_VERBS:
            return "action"
    return "text"


def _precision(request: ChatRequest, text: str) -> Precision:
    hints = request.hints
    if hints.precision is not None:
        return hints.precision
    if hints.needs_pixel_mask or (request.has_image and _PIXEL.search(text)):
        return "pixel"
    if _ROUGH.search(text):
        return "approximate"
    return "high"


def derive_profile(request: ChatRequest, *, volume_per_day: int | None = None) -> TaskProfile:
    """The five-property profile of ``request`` (see the module docstring for the rules).

    ``volume_per_day`` is the route's or tenant's configured daily volume; a
    ``hints.volume_per_day`` on the request overrides it.
    """
    text = request.last_user_text
    hints = request.hints
    volume = hints.volume_per_day if hints.volume_per_day is not None else volume_per_day
    return TaskProfile(
        output_space=_output_space(request, text),
        modality=_modality(request, text),
        latency_budget=latency_class(hints.latency_budget_ms),
        volume=volume_class(volume),
        precision=_precision(request, text),
    )
