"""Providers: one module per wire protocol or runtime, created by kind.

Modules import lazily so that, say, the llama.cpp runtime is loaded only when
a config actually names a ``llama-cpp`` model.
"""

from __future__ import annotations

import importlib

from modelyard.config.models import ModelSpec
from modelyard.providers.base import Provider, ProviderContext

__all__ = ["PROVIDERS", "Provider", "ProviderContext", "create_provider"]

#: provider kind → "module:Class"
PROVIDERS: dict[str, str] = {
    "openai": "modelyard.providers.openai:OpenAIProvider",
    "anthropic": "modelyard.providers.anthropic:AnthropicProvider",
    "gemini": "modelyard.providers.gemini:GeminiProvider",
    "llama-cpp": "modelyard.providers.local_llama:LlamaCppProvider",
    "onnx-embed": "modelyard.providers.local_embed:OnnxEmbeddingProvider",
    "sim": "modelyard.providers.sim:SimProvider",
    "openai-images": "modelyard.providers.openai_images:OpenAIImagesProvider",
    "sam2-http": "modelyard.providers.sam2_http:Sam2HTTPProvider",
    "opencv-grabcut": "modelyard.providers.local_grabcut:GrabCutProvider",
}


def create_provider(spec: ModelSpec, context: ProviderContext | None = None) -> Provider:
    target = PROVIDERS[spec.provider]
    module_name, _, cls_name = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), cls_name)
    return cls(spec, context)
