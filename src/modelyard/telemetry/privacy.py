"""What may reach a sink: secrets scrubbed always, text only when asked for.

`SecretScrubber` replaces the values of the API-key environment variables
the config names (and any extra secrets) wherever they appear. `TextPolicy`
is the opt-in prompt/answer capture: truncation, then the user's redaction
hook (``module:function``, ``str -> str``) for PII.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping

from modelyard.errors import ConfigError

__all__ = ["SecretScrubber", "TextPolicy", "load_hook"]

_MIN_SECRET = 6


class SecretScrubber:
    """Callable ``str -> str`` that masks known secret values with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str | None], env: Mapping[str, str]) -> SecretScrubber:
        return cls(env.get(name, "") for name in names if name)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"SecretScrubber({len(self._secrets)} secrets)"


def load_hook(ref: str) -> Callable[[str], str]:
    """Import ``module:function``; a config error names the key when it cannot."""
    module_name, _, attr = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load redaction hook {ref!r}: {exc}", key="telemetry.redact") from None
    if not callable(fn):
        raise ConfigError(f"redaction hook {ref!r} is not callable", key="telemetry.redact")
    return fn  # type: ignore[no-any-return]


class TextPolicy:
    """Truncate, redact, scrub: the text a record may hold when capture is on."""

    def __init__(
        self, max_chars: int, redact: Callable[[str], str] | None, scrub: Callable[[str], str]
    ) -> None:
        self.max_chars = max_chars
        self.redact = redact
        self.scrub = scrub

    def apply(self, text: str) -> tuple[str, bool]:
        """(stored text, truncated?). Redaction runs on the full text, then it is cut."""
        if self.redact is not None:
            text = str(self.redact(text))
        text = self.scrub(text)
        if len(text) > self.max_chars:
            return text[: self.max_chars], True
        return text, False
