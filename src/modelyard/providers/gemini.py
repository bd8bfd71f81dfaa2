"""Google's Gemini API (``generateContent``), translated from and to the OpenAI shape.

Roles become ``user``/``model``, system text becomes ``systemInstruction``,
data-URI images become inline data and URLs file data. What the API would
refuse is a 400 naming the field before sending
(`modelyard.providers.wire_limits.GEMINI`: more than 5 stop sequences, GIF
or other unsupported images, function names outside its pattern, no user or
model turn); ``image/jpg`` and mislabelled images are sent as what they are.
The key travels in the ``x-goog-api-key`` header, never in the URL, so it
cannot leak into logged URLs.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.errors import ConnectionFailedError, ContentFilteredError
from modelyard.providers.http import HTTPProvider
from modelyard.providers.translate import (
    InlineImage,
    function_tools,
    openai_tool_call,
    tool_call_arguments,
    tool_names_by_id,
    url_mime_type,
)
from modelyard.providers.wire_limits import GEMINI, reject
from modelyard.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingResponse,
    Message,
    StreamChunk,
    TextPart,
    Usage,
)

__all__ = ["GeminiOptions", "GeminiProvider"]

#: finishReason values that mean the answer was withheld on content policy.
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiOptions(BaseModel):
    """``options:`` of a ``provider: gemini`` model."""

    model_config = ConfigDict(extra="forbid")
    api_version: str = "v1beta"


class GeminiProvider(HTTPProvider):
    """Gemini models: plain and streamed generation, embeddings."""

    kind = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    max_choices = 8  # generationConfig.candidateCount is 1..8

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(GeminiOptions)
        model = self.spec.wire_model.removeprefix("models/")
        self._model_ref = f"models/{model}"
        self._path = f"/{self.options.api_version}/models/{urllib.parse.quote(model, safe='-._~')}"

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"x-goog-api-key": key} if key else {}

    # -- OpenAI → Gemini ---------------------------------------------------------

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The generateContent body; `modelyard.errors.RequestError` (400) for what Gemini would refuse."""
        GEMINI.sampling(request)
        GEMINI.tool_names(request)
        system, contents = _contents(request.messages, GEMINI.images(request))
        try:
            declarations = [
                {"name": t.name, "parameters": t.parameters}
                | ({"description": t.description} if t.description else {})
                for t in function_tools(request.tools)
            ]
        except ValueError as exc:
            reject("tools", str(exc), code="invalid_value")
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config = self._generation_config(request)
        if config:
            body["generationConfig"] = config
        if declarations:
            body["tools"] = [{"functionDeclarations": declarations}]
            tool_config = _tool_config(request.tool_choice)
            if tool_config is not None:
                body["toolConfig"] = tool_config
        return body

    def _generation_config(self, request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {}
        limit = request.output_token_limit or self.spec.max_output_tokens
        pairs = (
            ("temperature", request.temperature),
            ("topP", request.top_p),
            ("maxOutputTokens", limit),
            ("seed", request.seed),
            ("candidateCount", request.n if request.choice_count > 1 else None),
        )
        config.update({k: v for k, v in pairs if v is not None})
        stop = GEMINI.stop(request)
        if stop:
            config["stopSequences"] = stop
        fmt = (request.response_format or {}).get("type")
        if fmt in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
            schema = ((request.response_format or {}).get("json_schema") or {}).get("schema")
            if schema:
                config["responseJsonSchema"] = schema
        return config

    # -- Gemini → OpenAI ---------------------------------------------------------

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        data = await self.post_json(
            f"{self._path}:generateContent", self.build_body(request), timeout=timeout
        )
        if not isinstance(data, dict):
            raise self.malformed("answer is not a JSON object")
        self._check_blocked(data)
        choices = [
            c.model_copy(update={"index": i, "finish_reason": c.finish_reason or "stop"})
            for i, c in enumerate(self._candidates(data, request.choice_count, final=True))
        ]
        first = choices[0]
        return self.finish(
            ChatResponse(
                model=self.spec.name,
                provider=self.kind,
                text=first.text,
                finish_reason=first.finish_reason,
                tool_calls=first.tool_calls,
                usage=_usage(data.get("usageMetadata"), Usage(images=len(request.images))),
                upstream_model=data.get("modelVersion"),
                choices=choices if len(choices) > 1 else [],
            )
        )

    def _check_blocked(self, data: dict[str, Any]) -> None:
        reason = (data.get("promptFeedback") or {}).get("blockReason")
        if reason:
            raise self.error(
                ContentFilteredError,
                f"{self.kind} upstream blocked the prompt for {self.spec.name!r}: {reason}",
            )

    def _candidates(self, data: dict[str, Any], wanted: int, *, final: bool) -> list[Choice]:
        """Text, tool calls and finish reason (None until it finishes) of each candidate, by index.

        Only indices below ``wanted`` (``candidateCount``) count; a final answer
        without one is malformed.
        """
        candidates = data.get("candidates")
        out: list[Choice] = []
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            index = candidate.get("index", position) if isinstance(candidate, dict) else None
            if isinstance(index, int) and 0 <= index < wanted:
                out.append(self._candidate(index, candidate))
        if final and not out:
            raise self.malformed("answer without candidates")
        return sorted(out, key=lambda c: c.index)

    def _candidate(self, index: int, candidate: dict[str, Any]) -> Choice:
        reason = candidate.get("finishReason")
        if reason in _FILTERED:
            raise self.error(
                ContentFilteredError,
                f"{self.kind} upstream withheld the answer of {self.spec.name!r}: {reason}",
            )
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            call = part.get("functionCall") or part.get("function_call")
            if isinstance(call, dict) and call.get("name"):
                call_id = call.get("id") or f"call_{len(calls)}"
                calls.append(openai_tool_call(len(calls), call_id, call["name"], call.get("args") or {}))
        finish = _FINISH.get(str(reason), "stop") if reason else None
        if calls and finish == "stop":
            finish = "tool_calls"
        return Choice(index=index, text="".join(texts), tool_calls=calls or None, finish_reason=finish)

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        usage = Usage(images=len(request.images))
        finish: dict[int, str] = {}  # per candidate index
        path = f"{self._path}:streamGenerateContent?alt=sse"
        async for event in self.stream_events(path, self.build_body(request), timeout=timeout):
            data = self.decode(event.data)
            if not isinstance(data, dict):
                raise self.malformed("stream event is not a JSON object")
            if isinstance(data.get("error"), dict):
                code = data["error"].get("code")
                status = code if isinstance(code, int) and 400 <= code < 600 else 500
                raise self.status_error(status, {}, event.data.encode())
            self._check_blocked(data)
            usage = _usage(data.get("usageMetadata"), usage)
            for c in self._candidates(data, request.choice_count, final=False):
                if c.text or c.tool_calls:
                    yield StreamChunk(index=c.index, text=c.text, tool_calls=c.tool_calls)
                if c.finish_reason:
                    finish[c.index] = c.finish_reason
        if not finish:
            raise self.error(
                ConnectionFailedError, f"{self.kind} upstream for {self.spec.name!r} ended the stream early"
            )
        # Each candidate ends with its finish_reason; the last end carries the usage of all of them.
        ends = sorted(finish)
        for i in ends:
            yield StreamChunk(index=i, finish_reason=finish[i], usage=usage if i == ends[-1] else None)

    # -- embeddings --------------------------------------------------------------

    async def embed(self, texts: list[str], *, timeout: float | None = None) -> EmbeddingResponse:
        """Vectors from ``batchEmbedContents``. Gemini reports no token usage, so
        ``usage.input_tokens`` is an estimate (~4 characters a token)."""
        requests = [{"model": self._model_ref, "content": {"parts": [{"text": t}]}} for t in texts]
        data = await self.post_json(
            f"{self._path}:batchEmbedContents", {"requests": requests}, timeout=timeout
        )
        try:
            vectors = [[float(v) for v in item["values"]] for item in data["embeddings"]]
        except (KeyError, TypeError, ValueError):
            raise self.malformed("embeddings answer without embeddings[].values") from None
        if len(vectors) != len(texts):
            raise self.malformed(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        usage = Usage(input_tokens=sum(max(1, len(t) // 4) for t in texts))
        return EmbeddingResponse(
            model=self.spec.name, provider=self.kind, vectors=vectors, usage=usage, cost_usd=self.cost(usage)
        )


def _contents(
    messages: list[Message], images: dict[tuple[int, int], InlineImage | None]
) -> tuple[str, list[dict[str, Any]]]:
    names = tool_names_by_id(messages)
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        parts: list[dict[str, Any]]
        if m.role in ("system", "developer"):
            system.append(m.text)
            continue
        if m.role == "tool":
            role = "user"
            name = names.get(m.tool_call_id or "") or m.name or "tool"
            parts = [{"functionResponse": {"name": name, "response": {"content": m.text}}}]
        else:
            role = "model" if m.role == "assistant" else "user"
            parts = _parts(m, i, images)
            for j, call in enumerate(m.tool_calls or ()):
                fn_name = (call.get("function") or {}).get("name")
                if not fn_name:
                    reject(f"messages[{i}].tool_calls[{j}].function.name", "a tool call needs a name")
                try:
                    args = tool_call_arguments(call)
                except ValueError as exc:
                    reject(f"messages[{i}].tool_calls[{j}].function.arguments", str(exc), code="invalid_value")
                parts.append({"functionCall": {"name": fn_name, "args": args}})
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    if not out:
        reject("messages", "gemini needs at least one user or assistant message besides the system text")
    return "\n\n".join(s for s in system if s), out


def _parts(
    message: Message, index: int, images: dict[tuple[int, int], InlineImage | None]
) -> list[dict[str, Any]]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            if part.text:
                parts.append({"text": part.text})
            continue
        url = part.image_url.url
        image = images.get((index, j))
        if image is not None:
            parts.append({"inlineData": {"mimeType": image.mime_type, "data": image.data}})
        else:
            parts.append({"fileData": {"mimeType": url_mime_type(url), "fileUri": url}})
    return parts


def _tool_config(choice: Any) -> dict[str, Any] | None:
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        name = choice["function"]["name"]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def _usage(raw: Any, base: Usage) -> Usage:
    if not isinstance(raw, dict):
        return base
    output = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(raw.get("promptTokenCount") or base.input_tokens),
        output_tokens=output or base.output_tokens,
        images=base.images,
    )
