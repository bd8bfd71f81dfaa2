"""The engine that runs one request end to end."""

from modelyard.engine.engine import Completion, Engine, RequestListener, StreamSession
from modelyard.providers.calls import CallPath, ModelCalls

__all__ = ["CallPath", "Completion", "Engine", "ModelCalls", "RequestListener", "StreamSession"]
