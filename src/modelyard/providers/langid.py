"""Language identification for the ``mlm`` provider's ``language`` task.

MiniLM is an English encoder: its vectors say little about which language a
text is in. So language ID uses py3langid (a maintained fork of langid.py, BSD,
numpy only, its naive-Bayes model over byte n-grams ships inside the package): the
model is loaded once per process on first use (about 2 s, decompressing the model)
and then scores a short text in well under a millisecond. It is restricted by
default to `DEFAULT_LANGUAGES` (the languages people most often send), which makes
short texts far more reliable than choosing among all 97 it knows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_LANGUAGES", "LANGUAGE_NAMES", "LanguageGuess", "code_for", "identify"]

#: ISO 639-1 code → English name, for the languages considered by default.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ar": "Arabic",
    "hi": "Hindi", "tr": "Turkish", "pl": "Polish", "sv": "Swedish", "el": "Greek", "he": "Hebrew",
    "th": "Thai", "vi": "Vietnamese", "id": "Indonesian", "uk": "Ukrainian", "cs": "Czech", "ro": "Romanian",
    "da": "Danish", "fi": "Finnish", "no": "Norwegian", "hu": "Hungarian", "fa": "Persian", "ur": "Urdu",
    "bn": "Bengali", "ta": "Tamil", "ca": "Catalan", "ms": "Malay", "sw": "Swahili",
}  # fmt: skip
DEFAULT_LANGUAGES: tuple[str, ...] = tuple(LANGUAGE_NAMES)
_BY_NAME = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}
_BY_NAME.update({"farsi": "fa", "mandarin": "zh", "castilian": "es", "bahasa": "id"})

_lock = threading.Lock()
_identifier: Any = None


class LanguageGuess:
    """The best language and the normalised probabilities of the top candidates."""

    __slots__ = ("code", "probability", "ranking")

    def __init__(self, ranking: list[tuple[str, float]]) -> None:
        self.ranking = ranking
        self.code, self.probability = ranking[0]

    @property
    def name(self) -> str:
        return LANGUAGE_NAMES.get(self.code, self.code)


def code_for(name: str) -> str | None:
    """``Spanish`` / ``spanish`` / ``es`` → ``es``; None when unknown."""
    key = name.strip().lower()
    if key in LANGUAGE_NAMES:
        return key
    return _BY_NAME.get(key)


def _load() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:  # pragma: no cover - a core dependency
                raise RuntimeError("language identification needs py3langid: pip install py3langid") from exc
            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def identify(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES, *, top: int = 5) -> LanguageGuess:
    """Rank ``languages`` (ISO 639-1 codes) for ``text``; probabilities sum to 1 over them.

    The shared model is not re-restricted per call (that rebuilds its tables): the
    full ranking is taken and renormalised over the requested codes.
    """
    ident = _load()
    wanted = set(languages)
    ranked = [(str(code), float(p)) for code, p in ident.rank(text) if code in wanted]
    if not ranked:
        raise ValueError(f"none of {sorted(wanted)} is a language the identifier knows")
    total = sum(p for _, p in ranked) or 1.0
    return LanguageGuess([(code, round(p / total, 4)) for code, p in ranked[:top]])
