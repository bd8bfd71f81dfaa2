"""The OpenAI wire protocol as the loopback upstream speaks it.

``/chat/completions`` (plain and SSE, images, tools, logprobs, ``n`` choices:
interleaved in a stream, prompt tokens billed once), ``/embeddings`` and
``/models``; errors in OpenAI's ``{"error": {...}}`` shape.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from modelyard.testing.protocols.common import (
    Answer,
    ProtocolError,
    Reply,
    Turn,
    answers,
    embedding,
    json_reply,
    logprob,
    pieces,
    sse,
    word_count,
)
from modelyard.testing.protocols.dialects import DIALECTS
from modelyard.testing.protocols.limits import check_openai

__all__ = ["OpenAIProtocol"]

_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("server_error", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
}
_ROLES = {"system", "developer", "user", "assistant", "tool"}
_MAX_N = 128  # what OpenAI accepts


class OpenAIProtocol:
    """``dialect`` names the OpenAI-compatible server whose context-overflow answer to give."""

    name = "openai"

    def __init__(self, dialect: str = "openai") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
        self._ids = itertools.count(1)
        self.dialect = DIALECTS[dialect]

    # -- requests ----------------------------------------------------------------

    def parse_chat(self, body: Any) -> Turn:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise ProtocolError(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ProtocolError(400, "'messages' must be a non-empty array", "invalid_value")
        if self.dialect.name == "openai":  # OpenAI's own API limits; compatible servers are laxer
            check_openai(body)
        turn = Turn(messages=len(messages), logprobs=bool(body.get("logprobs")))
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                raise ProtocolError(400, "each message needs a valid 'role'", "invalid_value")
            text = self._content(m.get("content"), turn)
            turn.texts.append(text)
            if m["role"] == "user":
                turn.user_text = text
        last = messages[-1]
        if last["role"] == "tool":
            turn.tool_result = self._content(last.get("content"), Turn())
        if body.get("tool_choice") != "none":
            turn.tools = [
                t["function"]["name"] for t in body.get("tools") or () if t.get("type") == "function"
            ]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        turn.max_tokens = int(limit) if limit else None
        n = body.get("n", 1)
        if n is not None and (type(n) is not int or not 1 <= n <= _MAX_N):
            raise ProtocolError(400, f"{n!r} is not valid for 'n': it must be 1 to {_MAX_N}", "invalid_value")
        turn.choices = n or 1
        return turn

    def _content(self, content: Any, turn: Turn) -> str:
        if content is None or isinstance(content, str):
            return content or ""
        if not isinstance(content, list):
            raise ProtocolError(400, "'content' must be a string or an array of parts", "invalid_type")
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
                turn.images += 1
            else:
                raise ProtocolError(400, f"unsupported content part type {kind!r}", "invalid_type")
        return "\n".join(texts)

    # -- answers -----------------------------------------------------------------

    def chat_reply(
        self, model: str, body: dict[str, Any], turn: Turn, ans: Answer, *, stream: bool, filtered: bool
    ) -> Reply:
        rid = f"chatcmpl-loopback-{next(self._ids)}"
        every = answers(turn, ans)
        finish = ["content_filter" if filtered else a.finish for a in every]
        texts = ["" if filtered else a.text for a in every]
        completion = sum(a.output_tokens for a in every)  # the prompt is billed once for all n
        usage = {
            "prompt_tokens": ans.input_tokens,
            "completion_tokens": completion,
            "total_tokens": ans.input_tokens + completion,
        }
        calls = [_calls(a, filtered) for a in every]
        base = {"id": rid, "created": int(time.time()), "model": model, "system_fingerprint": "loopback"}
        if not stream:
            choices = []
            for c, (text, tool_calls) in enumerate(zip(texts, calls, strict=True)):
                message: dict[str, Any] = {"role": "assistant", "content": text or None}
                if tool_calls:
                    message["tool_calls"] = tool_calls
                choice: dict[str, Any] = {
                    "index": c,
                    "message": message,
                    "finish_reason": finish[c],
                    "logprobs": None,
                }
                if turn.logprobs and text:
                    choice["logprobs"] = {"content": [_lp(p, i) for i, p in enumerate(pieces(text))]}
                choices.append(choice)
            return json_reply({**base, "object": "chat.completion", "choices": choices, "usage": usage})
        chunk = {**base, "object": "chat.completion.chunk"}
        role = {"role": "assistant", "content": ""}
        events = [sse({**chunk, "choices": [_delta(c, role)]}) for c in range(len(every))]
        # Choices interleave, as OpenAI's do: the i-th piece of every choice, then the next.
        split = [pieces(text) if text else [] for text in texts]
        for i in range(max(map(len, split))):
            for c, parts in enumerate(split):
                if i < len(parts):
                    delta = _delta(c, {"content": parts[i]})
                    if turn.logprobs:
                        delta["logprobs"] = {"content": [_lp(parts[i], i)]}
                    events.append(sse({**chunk, "choices": [delta]}))
        for c, tool_calls in enumerate(calls):
            for call in tool_calls or ():
                head = {**call, "index": 0, "function": {"name": call["function"]["name"], "arguments": ""}}
                events.append(sse({**chunk, "choices": [_delta(c, {"tool_calls": [head]})]}))
                args = {"index": 0, "function": {"arguments": call["function"]["arguments"]}}
                events.append(sse({**chunk, "choices": [_delta(c, {"tool_calls": [args]})]}))
        events += [sse({**chunk, "choices": [_delta(c, {}, f)]}) for c, f in enumerate(finish)]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(sse({**chunk, "choices": [], "usage": usage}))
        events.append(sse("[DONE]"))
        return Reply(200, b"", events, {"content-type": "text/event-stream", "cache-control": "no-cache"})

    def embeddings(self, body: Any) -> Reply:
        if not isinstance(body, dict) or "input" not in body:
            raise ProtocolError(400, "'input' is required")
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if not inputs or not all(isinstance(t, str) for t in inputs):
            raise ProtocolError(400, "'input' must be a string or an array of strings", "invalid_type")
        dim = int(body.get("dimensions") or 8)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding(t, dim)} for i, t in enumerate(inputs)
        ]
        tokens = sum(max(1, word_count(t)) for t in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json_reply({"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    def models(self) -> Reply:
        model = {"id": "loopback", "object": "model", "created": 0, "owned_by": "modelyard-testing"}
        return json_reply({"object": "list", "data": [model]})

    # -- errors and auth ---------------------------------------------------------

    def error(
        self, status: int, message: str, code: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        kind, default_code = _ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        err = {"message": message, "type": kind, "param": None, "code": code or default_code}
        return json_reply({"error": err}, status)

    def blocked_prompt(self, model: str, body: dict[str, Any], *, stream: bool) -> Reply:
        message = "The prompt was filtered due to triggering the content management policy."
        return self.error(400, message, "content_filter")

    def stream_error(self, status: int, message: str) -> bytes:
        kind, _ = _ERRORS.get(status, ("server_error", None))
        # vLLM's shape: the numeric status travels in ``code``
        return sse({"error": {"message": message, "type": kind, "param": None, "code": status}})

    def context_error(self, tokens: int, window: int) -> ProtocolError:
        body = self.dialect.body(tokens, window)
        err = body.get("error", body)
        message = err if isinstance(err, str) else err.get("message", "")
        return ProtocolError(self.dialect.status, message, body=body)

    def check_key(self, headers: dict[str, str], query: dict[str, str], key: str) -> ProtocolError | None:
        sent = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if sent == key:
            return None
        # Echo what was sent, as some servers do: the client must scrub it from its errors.
        return ProtocolError(401, f"Incorrect API key provided: {sent or '(none)'}.", "invalid_api_key")


def _delta(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}


def _calls(ans: Answer, filtered: bool) -> list[dict[str, Any]] | None:
    if not ans.tool_name or filtered:
        return None
    function = {"name": ans.tool_name, "arguments": ans.tool_args_json}
    return [{"id": "call_loopback_0", "type": "function", "function": function}]


def _lp(token: str, i: int) -> dict[str, Any]:
    return {"token": token, "logprob": logprob(i), "bytes": None, "top_logprobs": []}
