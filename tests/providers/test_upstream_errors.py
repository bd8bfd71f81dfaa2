"""Upstream errors are classified by meaning, whatever server says them (issue 9, class 2).

One table of real wordings (each taken from the server's own error output as
users reported it), answered by the loopback upstream over a real socket, read
by the provider that speaks that protocol, chat and stream. The SGLang row is
the issue's example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from tests.providers.provider_harness import MakeProvider

from modelyard.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    ErrorKind,
    ProviderError,
    UpstreamMisconfiguredError,
    UpstreamServerError,
)
from modelyard.providers.upstream_errors import RULES, error_class, error_codes, upstream_message
from modelyard.testing import Fault, LoopbackUpstream
from modelyard.testing.protocols.dialects import DIALECTS
from modelyard.types import ChatRequest

CTX = ErrorKind.CONTEXT_TOO_LONG
BAD = ErrorKind.BAD_REQUEST
SERVER = ErrorKind.SERVER


@dataclass(frozen=True)
class Row:
    id: str
    provider: str  # the protocol whose client reads the answer
    status: int
    body: Any  # JSON-ready, or raw text
    kind: ErrorKind
    cls: type[ProviderError]


def _oai(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _vllm(message: str) -> dict[str, Any]:  # vLLM and SGLang: a top-level error object
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}


def _anthropic(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


def _google(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


ROWS = [
    # -- the prompt does not fit: every server's wording → context_too_long --------------------
    Row(
        "sglang-issue-example",
        "openai",
        400,
        _vllm("The input (5000 tokens) is longer than the model's context length (4096 tokens)."),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "sglang-input-length",
        "openai",
        400,
        _vllm("Input length (160062 tokens) exceeds the maximum allowed length (59862 tokens)."),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "openai-context-window",
        "openai",
        400,
        _oai(
            "Your input exceeds the context window of this model. Please adjust your input and try again.",
            "context_length_exceeded",
        ),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "vllm-messages-and-completion",
        "openai",
        400,
        _vllm(
            "This model's maximum context length is 16384 tokens. However, you requested 19591 tokens "
            "(9591 in the messages, 10000 in the completion). Please reduce the length of the messages or "
            "completion."
        ),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "vllm-validation-error",
        "openai",
        400,
        _vllm(
            "This model's maximum context length is 128000 tokens. However, you requested 65535 output "
            "tokens and your prompt contains at least 62466 input tokens, for a total of at least 128001 "
            "tokens."
        ),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "vllm-decoder-prompt-500",
        "openai",
        500,
        {
            "detail": "The decoder prompt (length 66501) is longer than the maximum model length of 65536. "
            "Make sure that `max_model_len` is no smaller than the number of text tokens."
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "tgi-inputs-plus-new-tokens-422",
        "openai",
        422,
        {
            "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. "
            "Given: 1244 `inputs` tokens and 1000 `max_new_tokens`",
            "error_type": "validation",
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "tgi-inputs-422",
        "openai",
        422,
        {
            "error": "Input validation error: `inputs` must have less than 2048 tokens. Given: 2222",
            "error_type": "validation",
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "llamacpp-exceed-context-size",
        "openai",
        400,
        {
            "error": {
                "code": 400,
                "message": "request (4390 tokens) exceeds the available context size (4096 tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 4390,
                "n_ctx": 4096,
            }
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "llamacpp-exceed-context-size-500",
        "openai",
        500,
        {
            "error": {
                "code": 500,
                "message": "the request exceeds the available context size. try increasing the context "
                "size or enable context shift",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 1407,
                "n_ctx": 256,
            }
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "llamacpp-context-size-exceeded-500",
        "openai",
        500,
        {"error": {"code": 500, "message": "Context size has been exceeded.", "type": "server_error"}},
        CTX,
        ContextTooLongError,
    ),
    Row(
        "ollama-input-length",
        "openai",
        400,
        {"error": "the input length exceeds the context length"},
        CTX,
        ContextTooLongError,
    ),
    Row(
        "lmstudio-keep-first-tokens",
        "openai",
        400,
        {
            "error": "Trying to keep the first 15857 tokens when context the overflows. However, the model "
            "is loaded with context length of only 4096 tokens, which is not enough. Try to load the model "
            "with a larger context length, or provide a shorter input"
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "lmstudio-n-keep",
        "openai",
        400,
        {
            "error": "The number of tokens to keep from the initial prompt is greater than the context "
            "length (n_keep: 10247 >= n_ctx: 4096). Try to load the model with a larger context length, or "
            "provide a shorter prompt."
        },
        CTX,
        ContextTooLongError,
    ),
    Row(
        "anthropic-prompt-too-long",
        "anthropic",
        400,
        _anthropic("invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "anthropic-input-and-max-tokens",
        "anthropic",
        400,
        _anthropic(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease input "
            "length or `max_tokens` and try again",
        ),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "anthropic-413-request-too-large",
        "anthropic",
        413,
        {"error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}},
        CTX,
        ContextTooLongError,
    ),
    Row(
        "gemini-input-token-count",
        "gemini",
        400,
        _google(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
        ),
        CTX,
        ContextTooLongError,
    ),
    Row(
        "proxy-413-html",
        "openai",
        413,
        "<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request "
        "Entity Too Large</h1></center><hr><center>nginx</center></body></html>",
        CTX,
        ContextTooLongError,
    ),
    # -- the upstream has no such endpoint or model: an upstream fault, never the caller's ----------
    Row(
        "openai-404-model-not-found",
        "openai",
        404,
        _oai("The model `gpt-9` does not exist or you do not have access to it.", "model_not_found"),
        SERVER,
        UpstreamMisconfiguredError,
    ),
    Row(
        "ollama-404-pull-first",
        "openai",
        404,
        _oai('model "llama3" not found, try pulling it first', type_="api_error"),
        SERVER,
        UpstreamMisconfiguredError,
    ),
    Row("go-404-page-not-found", "openai", 404, "404 page not found", SERVER, UpstreamMisconfiguredError),
    Row(
        "fastapi-405",
        "openai",
        405,
        {"detail": "Method Not Allowed"},
        SERVER,
        UpstreamMisconfiguredError,
    ),
    Row(
        "anthropic-404-model",
        "anthropic",
        404,
        _anthropic("not_found_error", "model: claude-nonexistent"),
        SERVER,
        UpstreamMisconfiguredError,
    ),
    Row(
        "gemini-404-model",
        "gemini",
        404,
        _google(
            404,
            "NOT_FOUND",
            "models/gemini-0 is not found for API version v1beta, or is not supported for generateContent.",
        ),
        SERVER,
        UpstreamMisconfiguredError,
    ),
    Row(
        "gemini-400-location",
        "gemini",
        400,
        _google(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        SERVER,
        UpstreamMisconfiguredError,
    ),
    # -- look alike, mean something else ---------------------------------------------------------
    Row(
        "openai-max-tokens-too-large",
        "openai",
        400,
        _oai(
            "max_tokens is too large: 100000. This model supports at most 4096 completion tokens, whereas "
            "you provided 100000.",
            "invalid_value",
        ),
        BAD,
        BadRequestError,
    ),
    Row(
        "anthropic-whitespace-stop",
        "anthropic",
        400,
        _anthropic("invalid_request_error", "stop_sequences: each stop sequence must contain non-whitespace"),
        BAD,
        BadRequestError,
    ),
    Row(
        "tgi-temperature-422",
        "openai",
        422,
        {"error": "Input validation error: `temperature` must be strictly positive", "error_type": "validation"},
        BAD,
        BadRequestError,
    ),
    Row(
        "go-context-deadline-500",
        "openai",
        500,
        {"error": "context deadline exceeded"},
        SERVER,
        UpstreamServerError,
    ),
    Row(
        "openai-unsupported-image",
        "openai",
        400,
        _oai(
            "You uploaded an unsupported image. Please make sure your image has of one the following "
            "formats: ['png', 'jpeg', 'gif', 'webp'].",
            "invalid_image_format",
        ),
        BAD,
        BadRequestError,
    ),
    Row(
        "gemini-bad-key",
        "gemini",
        400,
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            }
        },
        ErrorKind.AUTH,
        AuthenticationError,
    ),
    Row(
        "azure-content-filter",
        "openai",
        400,
        _oai(
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "content_filter",
        ),
        ErrorKind.CONTENT_FILTERED,
        ContentFilteredError,
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_upstream_error_table(
    row: Row, stream: bool, make_provider: MakeProvider, upstream: LoopbackUpstream
) -> None:
    upstream.faults.add(Fault(status=row.status, body=row.body))
    provider = make_provider(row.provider)
    request = ChatRequest.from_text("please answer this")
    with pytest.raises(ProviderError) as info:
        if stream:
            async for _ in provider.stream(request, timeout=5):
                pass
        else:
            await provider.chat(request, timeout=5)
    err = info.value
    assert type(err) is row.cls, str(err)
    assert err.kind is row.kind and err.upstream_status == row.status
    assert f"HTTP {row.status}" in str(err)
    if row.cls is UpstreamMisconfiguredError:
        assert err.status_code == 502 and "check base_url" in str(err)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_each_dialects_own_context_overflow(dialect: str, stream: bool, make_provider: MakeProvider) -> None:
    """The loopback overflows for real (a 3-token window) and answers the way the named server does."""
    async with LoopbackUpstream(context_window=3, dialect=dialect) as small:
        provider = make_provider("openai", base_url=small.url + "/v1")
        with pytest.raises(ContextTooLongError) as info:
            request = ChatRequest.from_text("one two three four five six")
            if stream:
                async for _ in provider.stream(request, timeout=5):
                    pass
            else:
                await provider.chat(request, timeout=5)
    assert info.value.kind is CTX and info.value.upstream_status == DIALECTS[dialect].status


@pytest.mark.parametrize("rule", RULES, ids=[f"{i}-{r.error.__name__}" for i, r in enumerate(RULES)])
def test_every_rule_documents_an_example_it_matches(rule: object) -> None:
    """Each rule's documented example classifies as the rule says (statuses taken from the rule)."""
    from modelyard.providers.upstream_errors import Rule

    assert isinstance(rule, Rule)
    status = min(rule.statuses) if rule.statuses else 400
    codes = set(rule.codes)
    payload = {"error": {"message": rule.example, "code": next(iter(codes), None)}}
    assert rule.matches(status, error_codes(payload), upstream_message(payload, b""))
    assert error_class(status, payload, upstream_message(payload, b"")) is rule.error


def test_gemini_array_error_body_is_read() -> None:
    payload = [
        _google(400, "INVALID_ARGUMENT", "The input token count (5) exceeds the maximum number of tokens allowed (4).")
    ]
    message = upstream_message(payload, b"")
    assert message.startswith("The input token count")
    assert error_class(400, payload, message) is ContextTooLongError
