"""How each OpenAI-compatible server says "the prompt does not fit", as the loopback repeats it.

The loopback's OpenAI protocol answers a prompt over its ``context_window``
the way the server named by its ``dialect`` does: same HTTP status, same body
shape, same wording (taken from the servers' own error output as users
reported it). Tests then see every server's overflow over a real socket, not
only OpenAI's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DIALECTS", "Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One server's context-overflow answer: ``status`` and ``body(tokens, window)`` (JSON-ready)."""

    name: str
    status: int
    body: Callable[[int, int], Any]


def _openai(tokens: int, window: int) -> Any:
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def _vllm(tokens: int, window: int) -> Any:
    message = (
        f"This model's maximum context length is {window} tokens. However, you requested {tokens} tokens "
        f"({tokens} in the messages, 0 in the completion). Please reduce the length of the messages or "
        "completion."
    )
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}


def _sglang(tokens: int, window: int) -> Any:
    message = f"The input ({tokens} tokens) is longer than the model's context length ({window} tokens)."
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}


def _tgi(tokens: int, window: int) -> Any:
    message = (
        f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {window}. "
        f"Given: {tokens} `inputs` tokens and 0 `max_new_tokens`"
    )
    return {"error": message, "error_type": "validation"}


def _llamacpp(tokens: int, window: int) -> Any:
    message = f"request ({tokens} tokens) exceeds the available context size ({window} tokens), try increasing it"
    return {
        "error": {
            "code": 400,
            "message": message,
            "type": "exceed_context_size_error",
            "n_prompt_tokens": tokens,
            "n_ctx": window,
        }
    }


def _ollama(tokens: int, window: int) -> Any:
    return {
        "error": {
            "message": "the input length exceeds the context length",
            "type": "api_error",
            "param": None,
            "code": None,
        }
    }


def _lmstudio(tokens: int, window: int) -> Any:
    message = (
        f"Trying to keep the first {tokens} tokens when context the overflows. However, the model is loaded "
        f"with context length of only {window} tokens, which is not enough. Try to load the model with a "
        "larger context length, or provide a shorter input"
    )
    return {"error": message}


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("openai", 400, _openai),
        Dialect("vllm", 400, _vllm),
        Dialect("sglang", 400, _sglang),
        Dialect("tgi", 422, _tgi),
        Dialect("llamacpp", 400, _llamacpp),
        Dialect("ollama", 400, _ollama),
        Dialect("lmstudio", 400, _lmstudio),
    )
}
