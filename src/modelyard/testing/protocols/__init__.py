"""The wire protocols the loopback upstream speaks, one module each, over one shared `Turn`."""

from modelyard.testing.protocols.anthropic import AnthropicProtocol
from modelyard.testing.protocols.common import WireProtocol
from modelyard.testing.protocols.gemini import GeminiProtocol
from modelyard.testing.protocols.openai import OpenAIProtocol

__all__ = ["AnthropicProtocol", "GeminiProtocol", "OpenAIProtocol", "WireProtocol"]
