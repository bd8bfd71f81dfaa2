"""The engine that runs one request end to end."""

from modelyard.engine.calls import CallPath, ModelCalls
from modelyard.engine.engine import Completion, Engine, RequestListener, StreamSession

__all__ = ["CallPath", "Completion", "Engine", "ModelCalls", "RequestListener", "StreamSession"]
