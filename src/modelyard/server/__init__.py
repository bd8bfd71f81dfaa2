"""The OpenAI-compatible HTTP gateway: ``modelyard serve``, or `create_app` in your own ASGI server."""

from modelyard.server.app import build_middleware, create_app
from modelyard.server.errors import Redactor

__all__ = ["Redactor", "build_middleware", "create_app"]
