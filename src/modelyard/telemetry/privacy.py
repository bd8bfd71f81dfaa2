"""What may reach a sink: secrets scrubbed always, text only when asked for.

`SecretScrubber` replaces the values of the API-key environment variables
the config names (and any extra secrets) wherever they appear. `TextPolicy`
is the opt-in prompt/answer capture: truncation, then the user's redaction
hook (``module:function``, ``str -> str``) for PII.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from modelyard.errors import ConfigError
from modelyard.secrets import SecretScrubber

__all__ = ["SecretScrubber", "TextPolicy", "load_hook"]

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
