"""Upstream errors classified by what they mean, in one table for every server modelyard calls.

The same failure arrives in many wordings: a prompt over the context window
is OpenAI's ``400 context_length_exceeded``, SGLang's ``400 "The input (5000
tokens) is longer than the model's context length (4096 tokens)."``, TGI's
``422 "Input validation error: `inputs` tokens + `max_new_tokens` must be <=
4096 …"``, llama.cpp's ``exceed_context_size_error``, Anthropic's ``"prompt is
too long"`` or ``413 request_too_large`` and Gemini's ``"… exceeds the maximum
number of tokens allowed …"``. `error_class` maps status, error code and
message to one class of the `modelyard.errors` tree, so fallbacks and retries
act on the meaning (``ErrorKind``), never on one server's wording.

Order of the decision (first match wins):

1. the status alone: 401/403 auth, 429 rate limited, 404/405 the upstream has
   no such endpoint or model (misconfigured: an upstream fault, never the
   caller's), 408/504 timeout;
2. `RULES`, each a set of statuses and error codes or a message pattern;
3. the status class: 5xx server error, other 4xx the caller's bad request,
   anything else a malformed answer.

Every wording in `RULES` was taken from the server's own error output as users
reported it (issue trackers of vLLM, SGLang, llama.cpp, TGI, Ollama, LM
Studio, Anthropic's and Google's SDKs); docs/upstream-errors.md lists them with
what modelyard does for each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelyard.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamMisconfiguredError,
    UpstreamServerError,
)

__all__ = ["RULES", "Rule", "error_class", "error_codes", "upstream_message"]

#: Statuses that carry a context overflow in the wild (500: llama.cpp and vLLM behind xinference).
_CONTEXT_STATUSES = frozenset({400, 413, 422, 500})
_CLIENT_STATUSES = frozenset(range(400, 500))

_CONTEXT_WORDING = re.compile(
    "|".join(
        (
            r"context[_ ]length[_ ]exceeded",  # OpenAI code, also in messages of proxies
            r"maximum context length",  # OpenAI, vLLM, DeepSeek, OpenRouter, SGLang
            r"(?:longer|greater) than the (?:model's )?(?:maximum )?(?:context length|model length)",
            r"exceeds? (?:the )?(?:available |model'?s? )?context (?:size|length|window|limit)",
            r"context size has been exceeded",  # llama.cpp (HTTP 500)
            r"prompt is too long",  # Anthropic
            r"exceeds the maximum number of tokens",  # Gemini
            r"exceeds the maximum allowed length",  # SGLang
            r"is too long and exceeds limit",  # vLLM (older)
            r"`inputs` tokens \+ `max_new_tokens` must be <=",  # TGI
            r"`inputs` must have less than \d+ tokens",  # TGI
            r"model is loaded with context length of only",  # LM Studio
            r"n_keep\W+\d+\W*>=\W*n_ctx",  # LM Studio / llama.cpp ("n_keep: 10247 >= n_ctx: 4096")
        )
    ),
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One meaning: which statuses, codes or wordings say it, and what modelyard makes of it.

    A rule matches when the status is in ``statuses`` (empty: any) and either
    an error code/type/status name of the body is in ``codes`` or ``pattern``
    finds the upstream's message (a rule with neither matches on the status). ``servers`` and ``example`` document where
    the wording comes from (``example`` must classify as ``error``; a test
    holds every rule to it).
    """

    error: type[ProviderError]
    servers: str
    example: str
    statuses: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    def matches(self, status: int, codes: frozenset[str], message: str) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        if not self.codes and self.pattern is None:
            return True  # the status alone says it
        if self.codes & codes:
            return True
        return self.pattern is not None and self.pattern.search(message) is not None


RULES: tuple[Rule, ...] = (
    Rule(
        ContentFilteredError,
        "OpenAI, Azure OpenAI",
        '400 {"error": {"code": "content_filter", …}}',
        statuses=_CLIENT_STATUSES,
        codes=frozenset({"content_filter", "content_policy_violation"}),
    ),
    Rule(
        AuthenticationError,
        "Gemini",
        "400 INVALID_ARGUMENT API_KEY_INVALID: API key not valid. Please pass a valid API key.",
        statuses=frozenset({400}),
        codes=frozenset({"api_key_invalid"}),
        pattern=re.compile(r"API key not valid", re.IGNORECASE),
    ),
    Rule(
        UpstreamMisconfiguredError,
        "OpenAI and compatible servers; Gemini",
        "400 model_not_found; 400 FAILED_PRECONDITION: User location is not supported for the API use.",
        statuses=frozenset({400}),
        codes=frozenset({"model_not_found", "failed_precondition"}),
    ),
    Rule(
        ContextTooLongError,
        "OpenAI, llama.cpp server, Anthropic (413)",
        "context_length_exceeded; exceed_context_size_error; request_too_large",
        codes=frozenset({"context_length_exceeded", "exceed_context_size_error", "request_too_large"}),
    ),
    Rule(
        ContextTooLongError,
        "any server or proxy (nginx: 413 Request Entity Too Large)",
        "413 Request Entity Too Large",
        statuses=frozenset({413}),
    ),
    Rule(
        ContextTooLongError,
        "OpenAI, vLLM, SGLang, TGI, llama.cpp, Ollama, LM Studio, Anthropic, Gemini",
        "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
        statuses=_CONTEXT_STATUSES,
        pattern=_CONTEXT_WORDING,
    ),
)


def error_codes(payload: Any) -> frozenset[str]:
    """The lower-cased error code/type/status names an error body carries (nested or top level).

    Reads ``error.code``/``type``/``status`` (OpenAI, Anthropic, Gemini,
    llama.cpp), the top-level ``type``/``code``/``error_type`` (SGLang, vLLM,
    TGI) and Google ``ErrorInfo`` reasons; numbers are skipped.
    """
    found: set[str] = set()
    for item in payload if isinstance(payload, list) else [payload]:
        if not isinstance(item, dict):
            continue
        err = item.get("error")
        sources = [item, err] if isinstance(err, dict) else [item]
        for source in sources:
            for key in ("code", "type", "status", "error_type"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    found.add(value.lower())
            details = source.get("details")
            for detail in details if isinstance(details, list) else []:
                reason = detail.get("reason") if isinstance(detail, dict) else None
                if isinstance(reason, str):
                    found.add(reason.lower())
    found.discard("error")  # Anthropic's envelope: {"type": "error", "error": {...}}
    return frozenset(found)


def error_class(status: int, payload: Any, message: str) -> type[ProviderError]:
    """The error class for an upstream's HTTP ``status``, decoded JSON ``payload`` and message."""
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimitedError
    if status in (404, 405):
        return UpstreamMisconfiguredError
    if status in (408, 504):
        return ProviderTimeoutError
    codes = error_codes(payload)
    for rule in RULES:
        if rule.matches(status, codes, message):
            return rule.error
    if status >= 500:
        return UpstreamServerError
    if 400 <= status < 500:
        return BadRequestError
    return MalformedResponseError


def upstream_message(payload: Any, raw: bytes) -> str:
    """The human message inside an OpenAI, Anthropic, Gemini, TGI or Ollama error body, else the raw text.

    Gemini's array form (``[{"error": {...}}]``) is read like its object form.
    """
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if isinstance(msg, str):
                return msg
        elif isinstance(err, str):
            return err
        detail = payload.get("detail") or payload.get("message")
        if isinstance(detail, str):
            return detail
    return raw[:400].decode("utf-8", "replace")
