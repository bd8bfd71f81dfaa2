"""Zero-shot labels for the ``mlm`` provider: which example sentences stand for each label.

A label's prototype is the mean MiniLM embedding of its examples; a text gets the
label whose prototype it is closest to (cosine). Examples come from, first to last:
the request's ``labels`` field (names, or name → example sentence(s)); the model's
``options.label_sets[<task>]``; the built-in sets below, matched by label name (so
"Is this positive or negative: …" uses the built-in sentiment examples, and
"positivo / negativo / neutro" match them by stem); and for any other name one
templated sentence ("This text is about {label}.", which MiniLM matches far better
than the bare word).
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.errors import BadRequestError

__all__ = ["BUILTIN_LABEL_SETS", "LabelSet", "builtin_examples", "label_set"]

LabelSet = dict[str, list[str]]

#: Example sentences per label; prototypes are their mean embeddings.
BUILTIN_LABEL_SETS: dict[str, LabelSet] = {
    "sentiment": {
        "positive": [
            "I love it, this is great.",
            "Excellent quality, I'm very happy with it.",
            "Wonderful experience, highly recommended!",
            "This made my day, thank you so much.",
            "Fantastic, works perfectly.",
        ],
        "negative": [
            "I hate it, this is terrible.",
            "Awful quality, I'm very disappointed.",
            "Worst experience ever, do not buy.",
            "This is broken and useless.",
            "I'm angry and frustrated with this.",
        ],
        "neutral": [
            "The meeting is scheduled for Monday.",
            "The package contains two items.",
            "It is an average product, nothing special.",
            "The store is on Main Street.",
            "Please send the report by Friday.",
        ],
    },
    "intent": {
        "question": [
            "What time does it open?",
            "How do I reset my password?",
            "Where is the nearest station?",
            "Can you tell me what this means?",
            "Why is the sky blue?",
        ],
        "request": [
            "Please book a table for two.",
            "Send me the invoice.",
            "Cancel my subscription.",
            "Set an alarm for 7am.",
            "Could you order a pizza for me?",
        ],
        "complaint": [
            "My order arrived broken.",
            "Nobody answers my emails, this is unacceptable.",
            "I was charged twice.",
            "The service was terrible.",
            "The app keeps crashing.",
        ],
        "greeting": ["Hi there!", "Hello, good morning.", "Hey, how are you?", "Good evening!"],
        "thanks": ["Thanks a lot for your help!", "Thank you so much.", "I appreciate it.", "Many thanks!"],
        "statement": [
            "The meeting is at 3pm.",
            "I live in Berlin.",
            "The report has ten pages.",
            "My flight lands tomorrow morning.",
        ],
    },
}

#: Built-in label name (lower case) → its examples, across every built-in set.
_BY_NAME: dict[str, list[str]] = {
    name: examples for labels in BUILTIN_LABEL_SETS.values() for name, examples in labels.items()
}
#: First five letters of a label in another language ("positivo", "négatif") → built-in sentiment label.
_SENTIMENT_STEMS = {"posit": "positive", "negat": "negative", "négat": "negative", "neutr": "neutral"}


def builtin_examples(name: str) -> list[str] | None:
    """Examples of the built-in label ``name`` (exact, or a sentiment label by stem), else None."""
    key = name.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    stem = _SENTIMENT_STEMS.get(key[:5])
    return BUILTIN_LABEL_SETS["sentiment"][stem] if stem is not None else None


def label_set(
    raw: object, template: Callable[[str], str], bad: Callable[[str], BadRequestError]
) -> LabelSet:
    """Names, or name → example(s), as name → non-empty list of examples."""
    out: LabelSet = {}
    if isinstance(raw, dict):
        for name, examples in raw.items():
            items = [examples] if isinstance(examples, str) else examples
            if not isinstance(items, list) or not all(isinstance(e, str) and e.strip() for e in items):
                raise bad(f"label {name!r} needs a sentence or a list of sentences")
            out[str(name).strip()] = items or [template(str(name).strip())]
    elif isinstance(raw, list) and all(isinstance(name, str) for name in raw):
        for name in raw:
            if name.strip():
                out[name.strip()] = builtin_examples(name) or [template(name.strip())]
    else:
        raise bad("'labels' must be a list of names or a mapping of name to example sentences")
    return out
