"""Is this chat turn a classification request? Which task, which text, which labels?

A masked-LM (``mlm``) model answers classification by embedding similarity and
nothing else, so the registry must know, before routing, whether a turn is one it
can answer. `read_classification` reads the last user message (and a ``labels:``
line in the system message) in two forms:

* **task prefix** — ``sentiment: the update is great``, ``classify: <text>`` with a
  ``labels: a, b, c`` line, ``intent: …``, ``language: …``, ``tag: "…" -> a / b``;
* **natural language** — an instruction and the text it is about, e.g.
  "Is this review positive or negative: I loved it", "Classify this as billing,
  technical or sales: my card was charged twice", "What language is 'Guten Morgen'?",
  "What's the intent of this message: 'I need to change my address'?". The text is
  what follows the instruction's colon, a quoted span, what follows its question
  mark, or the lines after it; candidate labels are the enumeration in the
  instruction ("as A, B or C", "into A, B and C", "is this [noun] A or B").

Only requests that name one text and either give at least two labels or ask a task
with built-in labels (``sentiment``, ``intent``, ``language``) count. Batch requests
("label each of these tweets…"), requests with no text ("classify these expenses"),
fact questions ("true or false: …") and requests to explain, write or translate are
free chat: `NotClassification` says why. The parser is plain string work (no model),
a few microseconds per turn.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from modelyard.types.request import ChatRequest

__all__ = [
    "BUILTIN_TASKS",
    "ClassificationTask",
    "NotClassification",
    "read_classification",
]

#: Tasks whose labels are built in, so the request need not list any.
BUILTIN_TASKS = ("sentiment", "intent", "language")

#: Prefix words (before ``:``) → task. Multi-word forms are normalised to single spaces.
_PREFIX_TASKS = {
    "classify": "classify",
    "classification": "classify",
    "text classification": "classify",
    "topic classification": "classify",
    "categorize": "classify",
    "categorise": "classify",
    "label": "classify",
    "topic": "classify",
    "tag": "tag",
    "tagging": "tag",
    "sentiment": "sentiment",
    "sentiment analysis": "sentiment",
    "intent": "intent",
    "intent detection": "intent",
    "intent classification": "intent",
    "language": "language",
    "lang": "language",
    "language id": "language",
    "language detection": "language",
    "language identification": "language",
}

_PREFIX = re.compile(r"^\s*(?P<task>[A-Za-z][A-Za-z ]{0,30}?)\s*:\s*(?P<rest>.*)$", re.DOTALL)
_LABELS_LINE = re.compile(r"^\s*labels\s*:\s*(?P<labels>.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ARROW = re.compile(r"\s*(?:->|=>|→)\s*(?P<labels>[^\n]+?)\s*\??\s*$")

# Quoted spans: the opening quote must start a word, so apostrophes ("what's") are not quotes.
_QUOTED = re.compile(
    r"""(?:^|(?<=[\s:(\[—–-]))(?:"(?P<d>[^"]+)"|'(?P<s>.+?)'(?=[\s?.!,;:)\]]|$)|“(?P<c>[^”]+)”|«\s*(?P<g>[^»]+?)\s*»"""
    r"""|‘(?P<t>[^’]+)’|„(?P<l>[^“”]+)[“”]|「(?P<j>[^」]+)」)""",
    re.DOTALL,
)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Instructions that ask for more than one label for one text.
_LANGUAGE_CUE = re.compile(r"\b(?:language|lang|idioma|langue|sprache|lingua|língua)\b")
_SENTIMENT_CUE = re.compile(
    r"\b(?:sentiment|sentimiento|sentimento|stimmung|positive or negative|positiv[oe]s? o negativ[oa]s?"
    r"|positif ou négatif|positive, negative)\b"
)
_INTENT_CUE = re.compile(r"\b(?:intent|intention|intención|intenção|intenzione|absicht)\b")
_CLASSIFY_CUE = re.compile(
    r"\b(?:classify|classification|categori[sz]e|category|categories|label|tag|bucket|clasifica\w*"
    r"|classifie\w*|classifique\w*|classifica\w*|klassifizier\w*|kategorisier\w*|belongs? to|falls? under"
    r"|which (?:department|team|class|topic|queue)|what (?:category|topic|class|kind|type))\b"
)
# "is this [noun] A or B", "is the following email spam or not spam", "¿es esto positivo o negativo?"
_YES_NO = re.compile(
    r"^(?:would you say |do you think )?(?:is|are|was|does|es|est-ce que|ist)\s+"
    r"(?:this|that|it|the following|the|esto|este|esta|ce|cela|das|dies)\b\s*(?P<tail>.*)$"
)
# Free-chat verbs: what an embedding model cannot do.
_FREE_CHAT = re.compile(
    r"\b(?:explain|why|write|summari[sz]e|translate|rewrite|generate|draft|describe|compose|reply"
    r"|respond|answer|fix|debug|implement|list|extract|give me|tell me about|how many|each|every|all of"
    r"|these|those|them|which of|what are|traduce|traduis|übersetze|explica|explique|erkläre)\b"
)
_LABEL_CUES = re.compile(
    r"\b(?:as|into|between|among|amongst|one of|either|categories|labels|options|choices|como|en|comme"
    r"|entre|als|in|to|under)\b\s*:?\s*"
)
_SPLIT = re.compile(r"\s*(?:,|/|\||;|\bor\b|\band\b|\bo\b|\bou\b|\boder\b|\by\b|\bet\b|\bund\b|\be\b)\s*")
_LEADING = re.compile(r"^(?:a|an|the|either|about|as|is it|it is|whether|un|una|uno|le|la|les|el|los|las)\s+")
_FACT_LABELS = frozenset({"true", "false", "yes", "no", "correct", "incorrect", "right", "wrong", "fact", "fiction"})
#: A one-label yes/no question means "X or not X" for these properties only.
_BINARY = frozenset(
    {"spam", "phishing", "clickbait", "toxic", "sarcasm", "sarcastic", "offensive", "profanity", "hate speech",
     "urgent", "fraud", "fraudulent", "positive", "negative", "a complaint", "complaint", "a question"}
)
_LANGUAGE_NAMES = frozenset(
    {"english", "spanish", "french", "german", "italian", "portuguese", "dutch", "russian", "chinese",
     "japanese", "korean", "arabic", "hindi", "turkish", "polish", "swedish", "greek", "hebrew", "thai",
     "vietnamese", "indonesian", "ukrainian", "czech", "romanian", "danish", "finnish", "norwegian",
     "hungarian", "persian", "urdu", "bengali", "tamil", "catalan", "malay", "swahili"}
)
#: Label stems that make a labelled request a sentiment one ("positivo, negativo o neutro").
_SENTIMENT_STEMS = frozenset({"posit", "negat", "neutr"})
_MAX_INSTRUCTION_WORDS = 25
_MAX_LABEL_WORDS = 4


@dataclass(frozen=True, slots=True)
class ClassificationTask:
    """One text to classify.

    ``task`` is ``sentiment``, ``intent``, ``language``, ``classify``, ``tag`` or a
    model-specific task name; ``labels`` are the candidate labels the request named
    (None: the task's own); ``form`` says how it was asked.
    """

    task: str
    text: str
    labels: tuple[str, ...] | None
    form: Literal["prefix", "natural"]


@dataclass(frozen=True, slots=True)
class NotClassification:
    """Why a turn is not a classification request an encoder can answer."""

    reason: str


def read_classification(
    request: ChatRequest, extra_tasks: Collection[str] = ()
) -> ClassificationTask | NotClassification:
    """Read the last user message as a classification request (see module docstring).

    ``extra_tasks`` are task names the model knows besides the built-in ones (its own
    label sets): ``topic: …`` then counts as a prefix request even without labels.
    The request's extra ``labels`` field (names, or name → example sentences) gives
    the labels when present.
    """
    text = request.last_user_text.strip()
    if not text:
        return NotClassification("the last user message has no text")
    extra = (request.model_extra or {}).get("labels")
    given = tuple(str(k) for k in extra) if isinstance(extra, dict | list) and extra else None
    line = _LABELS_LINE.search(text) or _LABELS_LINE.search(request.system_text)
    if line is not None and given is None:
        given = _split_labels(line.group("labels"), strict=False)
    if given is not None and len(given) < 2:
        return NotClassification(f"needs at least two candidate labels, got {len(given)}")
    body = _LABELS_LINE.sub("", text).strip()
    prefixed = _prefixed(body, given, {t.lower() for t in extra_tasks})
    if prefixed is not None:
        return prefixed
    return _natural(body, given)


def _prefixed(body: str, given: tuple[str, ...] | None, extra: set[str]) -> ClassificationTask | None:
    match = _PREFIX.match(body)
    if match is None:
        return None
    word = " ".join(match.group("task").lower().split())
    task = word if word in extra else _PREFIX_TASKS.get(word)
    if task is None:
        return None
    rest = match.group("rest").strip()
    labels = given
    if labels is None and (arrow := _ARROW.search(rest)) is not None:
        labels = _split_labels(arrow.group("labels"), strict=False)
        rest = rest[: arrow.start()].strip()
        if labels is not None and len(labels) < 2:
            labels = None
    rest = _unquote(rest)
    if not rest or (labels is None and task not in BUILTIN_TASKS and task not in extra):
        return None  # not servable as a prefix request; the natural reading may still apply
    return ClassificationTask(task=task, text=rest, labels=labels, form="prefix")


def _natural(body: str, given: tuple[str, ...] | None) -> ClassificationTask | NotClassification:
    split = _instruction_and_text(body)
    if split is None:
        return NotClassification("no classification instruction with a text to classify")
    instruction, payload = split
    lowered = " ".join(instruction.lower().split())
    if len(lowered.split()) > _MAX_INSTRUCTION_WORDS:
        return NotClassification("the instruction is too long to be a classification request")
    if _FREE_CHAT.search(lowered):
        return NotClassification("asks for more than a label (free chat)")
    labels = given or _labels_in(lowered)
    if labels is not None and {label.lower() for label in labels} & _FACT_LABELS:
        return NotClassification("a fact question (true/false, yes/no), not a classification")
    task = _task_of(lowered, labels)
    if task is None:
        return NotClassification("no classification instruction (task or candidate labels) found")
    if labels is None and task not in BUILTIN_TASKS:
        return NotClassification(f"task {task!r} needs at least two candidate labels")
    return ClassificationTask(task=task, text=payload, labels=labels, form="natural")


def _task_of(instruction: str, labels: tuple[str, ...] | None) -> str | None:
    names = {label.lower() for label in labels or ()}
    if _LANGUAGE_CUE.search(instruction) or (names and names <= _LANGUAGE_NAMES):
        return "language"
    if _SENTIMENT_CUE.search(instruction) or (names and {n[:5] for n in names} <= _SENTIMENT_STEMS):
        return "sentiment"
    if _INTENT_CUE.search(instruction):
        return "intent"
    if _CLASSIFY_CUE.search(instruction) or (labels is not None and _YES_NO.match(instruction)):
        return "classify"
    return None


def _instruction_and_text(body: str) -> tuple[str, str] | None:
    """Split "instruction: text" / instruction with a quoted text / "question? text" / first line + rest."""
    head, colon, tail = body.partition(":")
    if colon and tail.strip() and len(head.split()) <= _MAX_INSTRUCTION_WORDS and "\n" not in head.strip():
        return head, _unquote(tail)
    quoted = _QUOTED.search(body)
    if quoted is not None:
        payload = next(g for g in quoted.groups() if g is not None).strip()
        if payload:
            after = body[quoted.end() :]
            rest = " this " + after if after.strip(" ?.!") else after
            return body[: quoted.start()] + rest, payload
    question, mark, rest = body.partition("?")
    if mark and rest.strip() and len(question.split()) <= _MAX_INSTRUCTION_WORDS:
        return question, _unquote(rest)
    first, newline, rest = body.partition("\n")
    if newline and rest.strip():
        return first, _unquote(rest)
    return None


def _labels_in(instruction: str) -> tuple[str, ...] | None:
    """The candidate labels an instruction enumerates, or None."""
    s = instruction.strip().rstrip("?.!:;¿¡ ").lstrip("¿¡ ")
    tails: list[str] = []
    cues = list(_LABEL_CUES.finditer(s))
    if cues:
        tails.append(s[cues[-1].end() :])
    yes_no = _YES_NO.match(s)
    if yes_no is not None:
        tail = yes_no.group("tail")
        _, _, after = tail.partition(" ")
        tails += [after, tail] if after else [tail]
    for tail in tails:
        labels = _split_labels(tail, strict=True)
        if labels is not None and len(labels) >= 2:
            if len(labels) == 2 and labels[1] in ("not", "no"):  # "clickbait or not"
                return (labels[0], f"not {labels[0]}")
            return labels
    if yes_no is not None:
        single = _LEADING.sub("", yes_no.group("tail").strip())
        for candidate in (single, single.partition(" ")[2]):
            if candidate in _BINARY:
                return (candidate, f"not {candidate}")
    return None


def _split_labels(raw: str, *, strict: bool) -> tuple[str, ...] | None:
    """``a, b or c`` → (a, b, c). Strict (from an instruction): 2–20 short labels of words only."""
    parts = [_LEADING.sub("", p.strip(" .?!:;\"'“”«»()[]{}")).strip() for p in _SPLIT.split(raw)]
    labels = tuple(dict.fromkeys(p for p in parts if p))
    if not labels:
        return None
    if strict:
        if not 2 <= len(labels) <= 20:
            return None
        for label in labels:
            words = label.split()
            if len(words) > _MAX_LABEL_WORDS or not all(_WORD.fullmatch(w.replace("-", "")) for w in words):
                return None
    return labels


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) > 2 and text[-1] in "?.!" and text[-2] in "\"'”»’":
        text = text[:-1]
    quoted = _QUOTED.fullmatch(text) if text else None
    if quoted is not None:
        return next(g for g in quoted.groups() if g is not None).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].strip()
    return text

