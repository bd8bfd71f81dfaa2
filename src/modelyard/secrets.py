"""Masking known secret values wherever text leaves the process.

The config names the environment variables that hold API keys; their values
are read once and replaced by ``***`` in error messages sent to clients, in log
lines and in telemetry records. One implementation, used by the gateway and the
telemetry sinks alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["SecretScrubber"]

_MIN_SECRET = 6  # shorter values would mangle ordinary words when masked


class SecretScrubber:
    """Callable ``str -> str`` that masks known secret values with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str | None], env: Mapping[str, str]) -> SecretScrubber:
        """From the environment variables the config names (``api_key_env``)."""
        return cls(env.get(name, "") for name in names if name)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._secrets)} secrets)"
