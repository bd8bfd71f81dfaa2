"""Google's Gemini API as the loopback upstream speaks it.

``models/{model}:generateContent``, ``:streamGenerateContent?alt=sse`` (events
end in CRLF, as Google's do), ``:batchEmbedContents`` and ``:embedContent``.
Both camelCase and snake_case field names are accepted, as the real API does.
``generationConfig.candidateCount`` (1 to 8) asks for several candidates; the
prompt is counted once and ``candidatesTokenCount`` sums them all.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from typing import Any

from modelyard.testing.protocols.common import (
    Answer,
    ProtocolError,
    Reply,
    Turn,
    answers,
    embedding,
    json_reply,
    pieces,
    sse,
)
from modelyard.testing.protocols.limits import check_gemini

__all__ = ["GeminiProtocol"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_TYPES = "type.googleapis.com/google.rpc."
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_MAX_CANDIDATES = 8


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _candidate(index: int, ans: Answer, filtered: bool) -> dict[str, Any]:
    text = "" if filtered else ans.text
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    if ans.tool_name and not filtered:
        parts.append({"functionCall": {"name": ans.tool_name, "args": ans.tool_args}})
    candidate: dict[str, Any] = {
        "index": index,
        "content": {"role": "model", "parts": parts},
        "finishReason": "SAFETY" if filtered else _FINISH[ans.finish],
    }
    if filtered:
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ]
    return candidate


def _calls_only(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in candidate["content"]["parts"] if "functionCall" in p]


class GeminiProtocol:
    name = "gemini"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def parse_chat(self, body: Any) -> Turn:
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list) or not contents:
            raise ProtocolError(400, "* GenerateContentRequest.contents: contents is not specified")
        check_gemini(body)
        turn = Turn(messages=len(contents))
        system = _get(body, "systemInstruction", "system_instruction")
        if system:
            turn.texts.append(" ".join(p.get("text", "") for p in system.get("parts") or ()))
        for content in contents:
            role = content.get("role", "user")
            if role not in ("user", "model"):
                raise ProtocolError(400, f"Please use a valid role: user, model. (got {role!r})")
            text, result = self._parts(content.get("parts"), turn)
            turn.texts.append(text)
            if role == "user" and text:
                turn.user_text = text
            turn.tool_result = result if role == "user" else None
        config = _get(body, "generationConfig", "generation_config") or {}
        limit = _get(config, "maxOutputTokens", "max_output_tokens")
        turn.max_tokens = int(limit) if limit else None
        count = _get(config, "candidateCount", "candidate_count")
        if count is not None and (type(count) is not int or not 1 <= count <= _MAX_CANDIDATES):
            raise ProtocolError(
                400, f"* GenerateContentRequest.generation_config.candidate_count: must be 1 to {_MAX_CANDIDATES}"
            )
        turn.choices = count or 1
        calling = _get(
            _get(body, "toolConfig", "tool_config") or {}, "functionCallingConfig", "function_calling_config"
        )
        if (calling or {}).get("mode") != "NONE":
            for tool in body.get("tools") or ():
                turn.tools.extend(
                    d["name"] for d in _get(tool, "functionDeclarations", "function_declarations") or ()
                )
        return turn

    def _parts(self, parts: Any, turn: Turn) -> tuple[str, str | None]:
        if not isinstance(parts, list) or not parts:
            raise ProtocolError(
                400, "* GenerateContentRequest.contents.parts: contents.parts must not be empty"
            )
        texts: list[str] = []
        result: str | None = None
        for part in parts:
            inline = _get(part, "inlineData", "inline_data")
            file = _get(part, "fileData", "file_data")
            response = _get(part, "functionResponse", "function_response")
            if "text" in part:
                texts.append(str(part["text"]))
            elif inline is not None:
                try:
                    base64.b64decode(inline.get("data") or "", validate=True)
                except (binascii.Error, ValueError):
                    raise ProtocolError(400, "Invalid value at 'contents.parts.inline_data.data'") from None
                if not str(_get(inline, "mimeType", "mime_type") or "").startswith("image/"):
                    raise ProtocolError(400, "inline_data needs an image mime_type")
                turn.images += 1
            elif file is not None:
                if not _get(file, "fileUri", "file_uri"):
                    raise ProtocolError(400, "file_data.file_uri is required")
                turn.images += 1
            elif response is not None:
                value = response.get("response")
                result = (
                    value.get("content")
                    if isinstance(value, dict) and "content" in value
                    else json.dumps(value)
                )
            elif _get(part, "functionCall", "function_call") is None:
                raise ProtocolError(400, f"unknown part {sorted(part)!r}")
        return "\n".join(texts), result

    def chat_reply(
        self, model: str, body: dict[str, Any], turn: Turn, ans: Answer, *, stream: bool, filtered: bool
    ) -> Reply:
        rid = f"loopback-{next(self._ids)}"
        every = answers(turn, ans)
        output = sum(a.output_tokens for a in every)  # the prompt is counted once for all candidates
        usage = {
            "promptTokenCount": ans.input_tokens,
            "candidatesTokenCount": output,
            "totalTokenCount": ans.input_tokens + output,
        }
        candidates = [_candidate(i, a, filtered) for i, a in enumerate(every)]
        meta = {"modelVersion": model, "responseId": rid}
        if not stream:
            return json_reply({"candidates": candidates, "usageMetadata": usage, **meta})
        partial = {"promptTokenCount": ans.input_tokens, "totalTokenCount": ans.input_tokens}
        # Candidates stream side by side: event k holds the k-th piece of each candidate that has one.
        split = [pieces(a.text) if a.text and not filtered else [] for a in every]
        events = [
            sse(
                {
                    "candidates": [
                        {"index": i, "content": {"role": "model", "parts": [{"text": parts[k]}]}}
                        for i, parts in enumerate(split)
                        if k < len(parts)
                    ],
                    "usageMetadata": partial,
                    **meta,
                },
                crlf=True,
            )
            for k in range(max(map(len, split)))
        ]
        final = [
            {**c, "content": {"role": "model", "parts": _calls_only(c) or [{"text": ""}]}} for c in candidates
        ]
        events.append(sse({"candidates": final, "usageMetadata": usage, **meta}, crlf=True))
        return Reply(200, b"", events, {"content-type": "text/event-stream"})

    def embeddings(self, model: str, body: Any, *, batch: bool) -> Reply:
        requests = body.get("requests") if batch and isinstance(body, dict) else [body]
        if not isinstance(requests, list) or not requests:
            raise ProtocolError(400, "* BatchEmbedContentsRequest.requests: requests is empty")
        vectors = []
        for req in requests:
            if batch and req.get("model") != f"models/{model}":
                raise ProtocolError(
                    400, f"model in request ({req.get('model')}) does not match the URL (models/{model})"
                )
            parts = (req.get("content") or {}).get("parts") or []
            text = " ".join(str(p.get("text", "")) for p in parts)
            dim = int(_get(req, "outputDimensionality", "output_dimensionality") or 8)
            vectors.append({"values": embedding(text, dim)})
        return json_reply({"embeddings": vectors} if batch else {"embedding": vectors[0]})

    def error(
        self, status: int, message: str, code: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        details: list[dict[str, Any]] = []
        if code == "API_KEY_INVALID":
            code = "INVALID_ARGUMENT"
            details.append(
                {"@type": _TYPES + "ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
            )
        if retry_after is not None:
            details.append({"@type": _TYPES + "RetryInfo", "retryDelay": f"{retry_after:g}s"})
        err: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": code or _STATUS.get(status, "UNKNOWN"),
        }
        if details:
            err["details"] = details
        return json_reply({"error": err}, status)

    def blocked_prompt(self, model: str, body: dict[str, Any], *, stream: bool) -> Reply:
        data = {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 1},
            "modelVersion": model,
        }
        if not stream:
            return json_reply(data)
        return Reply(200, b"", [sse(data, crlf=True)], {"content-type": "text/event-stream"})

    def stream_error(self, status: int, message: str) -> bytes:
        err = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
        return sse({"error": err}, crlf=True)

    def context_error(self, tokens: int, window: int) -> ProtocolError:
        return ProtocolError(
            400, f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({window})."
        )

    def check_key(self, headers: dict[str, str], query: dict[str, str], key: str) -> ProtocolError | None:
        if headers.get("x-goog-api-key", query.get("key")) == key:
            return None
        return ProtocolError(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
