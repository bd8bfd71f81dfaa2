"""Any OpenAI-compatible endpoint: OpenAI, vLLM, llama.cpp server, Ollama, LM Studio.

The request is already in OpenAI's shape, so translation is small: set the
upstream model id, drop modelyard's own fields (``hints``), keep every unknown
OpenAI parameter the caller sent, and ask for usage in streams. Lossless
fixes are made for every server (duplicate stop sequences dropped, a data-URI
image labelled ``image/jpg`` or with a type its bytes contradict relabelled);
OpenAI's own API limits (at most 4 stop sequences, PNG/JPEG/GIF/WebP images
under 20 MB, tool names ``^[a-zA-Z0-9_-]{1,64}$``) are checked before sending
when the upstream is OpenAI (``options.strict``; by default when ``base_url``
is ``api.openai.com``), a 400 naming the field otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import ConnectionFailedError, ContentFilteredError, ProviderError
from modelyard.providers.http import HTTPProvider, SSEEvent
from modelyard.providers.wire_limits import OPENAI, normalised_image
from modelyard.types import ChatRequest, ChatResponse, Choice, EmbeddingResponse, ImagePart, StreamChunk, Usage

__all__ = ["OpenAIOptions", "OpenAIProvider"]

#: ChatRequest fields that are modelyard's, never sent upstream.
_LOCAL_FIELDS: set[str] = {"hints", "model", "stream"}
#: Error ``code``/``type`` names in a stream error event → the status they stand for.
_STREAM_ERROR_STATUS = {
    "invalid_api_key": 401,
    "authentication_error": 401,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "context_length_exceeded": 400,
    "invalid_request_error": 400,
    "content_filter": 400,
}


class OpenAIOptions(BaseModel):
    """``options:`` of a ``provider: openai`` model."""

    model_config = ConfigDict(extra="forbid")
    strict: bool | None = Field(
        default=None,
        description="check OpenAI's own API limits before sending; default: when base_url is api.openai.com",
    )
    max_choices: int = Field(
        default=128,
        ge=1,
        le=128,
        description="the most choices (n) one call may ask this server for; 1 for servers that refuse n > 1 "
        "(llama.cpp server): the engine then fans n out as separate calls",
    )


class OpenAIProvider(HTTPProvider):
    """Chat completions (plain and streamed, images included) and embeddings."""

    kind = "openai"
    default_base_url = "https://api.openai.com/v1"
    max_choices = 128  # OpenAI's limit on n (options.max_choices); a server that answers fewer is topped up

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(OpenAIOptions)
        self.max_choices = self.options.max_choices
        strict = self.options.strict
        self.strict = strict if strict is not None else urlsplit(self.base_url).hostname == "api.openai.com"

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()  # None for keyless local servers (Ollama, llama.cpp)
        return {"authorization": f"Bearer {key}"} if key else {}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The request body; `modelyard.errors.RequestError` (400) for what OpenAI would refuse (strict)."""
        body = request.model_dump(exclude=_LOCAL_FIELDS, exclude_none=True)
        body["model"] = self.spec.wire_model
        if self.strict:
            OPENAI.tool_names(request)
            images = OPENAI.images(request)
        else:
            images = {
                (i, j): normalised_image(part.image_url.url, i, j)
                for i, m in enumerate(request.messages)
                if isinstance(m.content, list)
                for j, part in enumerate(m.content)
                if isinstance(part, ImagePart)
            }
        for (i, j), image in images.items():
            url = request.messages[i].content[j].image_url.url  # type: ignore[index,union-attr]
            if image is not None and not url.startswith(f"data:{image.mime_type};"):
                body["messages"][i]["content"][j]["image_url"]["url"] = f"data:{image.mime_type};base64,{image.data}"
        if isinstance(request.stop, list):
            stop = OPENAI.stop(request) if self.strict else list(dict.fromkeys(request.stop))
            if stop:
                body["stop"] = stop
            else:
                body.pop("stop", None)
        if stream:
            body["stream"] = True
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return body

    # -- chat --------------------------------------------------------------------

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        body = self.build_body(request, stream=False)
        data = await self.post_json("/chat/completions", body, timeout=timeout)
        return self.finish(self.parse_response(data, request))

    def parse_response(self, data: Any, request: ChatRequest) -> ChatResponse:
        """Every choice the upstream sent (``n``), renumbered 0.. in its ``index`` order."""
        try:
            raw = sorted(data["choices"], key=lambda c: c.get("index", 0))
            choices = [self._choice(i, c) for i, c in enumerate(raw[: request.choice_count])]
            first = choices[0]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self.malformed("chat completion without choices[0].message") from None
        return ChatResponse(
            model=self.spec.name,
            provider=self.kind,
            text=first.text,
            finish_reason=first.finish_reason,
            tool_calls=first.tool_calls,
            usage=self._usage(data.get("usage"), request, "".join(c.text for c in choices)),
            logprobs=first.logprobs,
            upstream_model=data.get("model"),
            choices=choices if len(choices) > 1 else [],
        )

    def _choice(self, index: int, choice: Any) -> Choice:
        message = choice["message"]
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        finish = choice.get("finish_reason")
        self._check_filter(finish, message.get("refusal"), text)
        return Choice(
            index=index,
            text=text,
            finish_reason=finish or "stop",
            tool_calls=message.get("tool_calls") or None,
            logprobs=_logprobs(choice.get("logprobs")),
        )

    def _check_filter(self, finish: object, refusal: object = None, text: str = "") -> None:
        """``finish_reason: content_filter``, or a structured-output ``refusal`` with no answer."""
        if finish == "content_filter" or (refusal and not text):
            raise self.error(
                ContentFilteredError, f"{self.kind} upstream filtered the answer of {self.spec.name!r}"
            )

    def _usage(self, raw: Any, request: ChatRequest, text: str) -> Usage:
        images = len(request.images)
        if not isinstance(raw, dict):
            # Some compatible servers report no usage: estimate (~4 characters a token).
            output = max(1, len(text) // 4) if text else 0
            return Usage(input_tokens=request.estimate_input_tokens(), output_tokens=output, images=images)
        return Usage(
            input_tokens=int(raw.get("prompt_tokens") or 0),
            output_tokens=int(raw.get("completion_tokens") or 0),
            images=images,
        )

    # -- stream ------------------------------------------------------------------

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        body = self.build_body(request, stream=True)
        wanted = request.choice_count
        finish: dict[int, str] = {}  # per choice index
        usage: Usage | None = None
        refusal: set[int] = set()
        text: dict[int, list[str]] = {}
        done = False
        # Closed here, not by the garbage collector, so its connection is back in the pool
        # before the last chunk goes out.
        async with aclosing(self.stream_events("/chat/completions", body, timeout=timeout, last=_is_done)) as events:
            async for event in events:
                if event.is_done:
                    done = True
                    break
                data = self.decode(event.data)
                if not isinstance(data, dict):
                    raise self.malformed("stream event is not a JSON object")
                if "error" in data:
                    raise self._stream_error(data, event.data)
                if data.get("usage"):
                    usage = self._usage(data["usage"], request, "")
                for choice in data.get("choices") or ():
                    index = choice.get("index", 0)
                    if not isinstance(index, int) or not 0 <= index < wanted:
                        continue  # a choice nobody asked for
                    said = text.setdefault(index, [])
                    delta = choice.get("delta") or {}
                    if delta.get("refusal"):
                        refusal.add(index)
                    chunk = StreamChunk(
                        index=index,
                        text=delta.get("content") or "",
                        tool_calls=delta.get("tool_calls") or None,
                        logprobs=_logprobs(choice.get("logprobs")),
                    )
                    if chunk.text or chunk.tool_calls or chunk.logprobs:
                        said.append(chunk.text)
                        yield chunk
                    if choice.get("finish_reason"):
                        finish[index] = choice["finish_reason"]
                        self._check_filter(finish[index], index in refusal, "".join(said))
        if not done and (not finish or not text.keys() <= finish.keys()):
            raise self.error(
                ConnectionFailedError,
                f"{self.kind} upstream for {self.spec.name!r} ended the stream before it finished",
            )
        usage = usage or self._usage(None, request, "".join("".join(t) for t in text.values()))
        # Each choice ends with its finish_reason; the last end carries the usage of all of them.
        ends = sorted(finish.keys() | text.keys()) or [0]
        for i in ends:
            last = i == ends[-1]
            yield StreamChunk(index=i, finish_reason=finish.get(i) or "stop", usage=usage if last else None)

    def _stream_error(self, data: dict[str, Any], raw: str) -> ProviderError:
        """An error sent as a stream event (vLLM and others do this after a 200)."""
        err = data.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        else:
            names = {str(code), str(err.get("type") if isinstance(err, dict) else "")}
            status = next((s for name, s in _STREAM_ERROR_STATUS.items() if name in names), 500)
        return self.status_error(status, {}, raw.encode())

    # -- embeddings --------------------------------------------------------------

    async def embed(self, texts: list[str], *, timeout: float | None = None) -> EmbeddingResponse:
        body = {"model": self.spec.wire_model, "input": texts, "encoding_format": "float"}
        data = await self.post_json("/embeddings", body, timeout=timeout)
        try:
            rows = sorted(data["data"], key=lambda row: row.get("index", 0))
            vectors = [[float(v) for v in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.malformed("embeddings answer without data[].embedding") from None
        if len(vectors) != len(texts):
            raise self.malformed(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        raw_usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        usage = Usage(input_tokens=int(raw_usage.get("prompt_tokens") or 0))
        return EmbeddingResponse(
            model=self.spec.name,
            provider=self.kind,
            vectors=vectors,
            usage=usage,
            cost_usd=self.cost(usage),
        )


def _is_done(event: SSEEvent) -> bool:
    return event.is_done


def _logprobs(raw: Any) -> list[float] | None:
    """Per-token log-probabilities from OpenAI's ``logprobs.content[].logprob``."""
    if not isinstance(raw, dict):
        return None
    content = raw.get("content")
    if not isinstance(content, list):
        return None
    values = [float(item["logprob"]) for item in content if isinstance(item, dict) and "logprob" in item]
    return values or None
