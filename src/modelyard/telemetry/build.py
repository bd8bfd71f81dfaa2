"""Assemble a `TelemetryHub` from the ``telemetry:`` section of a config."""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.config import Config
from modelyard.config.telemetry import PostgresSinkSpec
from modelyard.errors import ConfigError
from modelyard.telemetry.hub import TelemetryHub, writer_mode
from modelyard.telemetry.metrics import BreakerStates
from modelyard.telemetry.privacy import SecretScrubber, TextPolicy, load_hook
from modelyard.telemetry.sinks import create_sink

__all__ = ["build_hub"]


def build_hub(
    config: Config, env: Mapping[str, str], *, breakers: BreakerStates | None = None
) -> TelemetryHub:
    """Validate everything first (a missing DSN variable is a config error), then start the sinks."""
    settings = config.telemetry
    for i, spec in enumerate(settings.sinks):
        if isinstance(spec, PostgresSinkSpec) and not env.get(spec.dsn_env):
            raise ConfigError(
                f"environment variable {spec.dsn_env} (the PostgreSQL DSN) is not set",
                file=config.source,
                key=f"telemetry.sinks[{i}].dsn_env",
            )
    scrub = SecretScrubber.from_env((m.api_key_env for m in config.models.values()), env)
    text = None
    if settings.capture_text:
        hook = load_hook(settings.redact) if settings.redact else None
        text = TextPolicy(settings.max_text_chars, hook, scrub)
    spans = None
    if settings.tracing.enabled:
        from modelyard.telemetry.tracing import SpanBuilder  # the OpenTelemetry SDK only when asked for

        spans = SpanBuilder(settings.tracing)
    sinks = [create_sink(spec, env) for spec in settings.sinks]
    writers = [
        writer_mode(settings.writer, sink, auto_process=spec.kind in ("sqlite", "postgres"))
        for spec, sink in zip(settings.sinks, sinks, strict=True)
    ]
    return TelemetryHub(
        settings, config.models, sinks=sinks, scrub=scrub, text=text, spans=spans, breakers=breakers, writers=writers
    )
