"""Local `mlm` provider: all-MiniLM-L6-v2 (int8 ONNX) embeddings, in-process.

``embed(texts)`` returns 384-dimensional unit vectors from the packaged MiniLM
encoder (`modelyard.encoders.minilm`), with the tokenizer's real token counts.

An MLM does not write text, so ``chat`` answers only what an encoder can do
honestly: **classification by embedding similarity**. The last user message is
``<task>: <text>`` and may carry a ``labels: a, b, c`` line::

    sentiment: The battery died after two days.
    intent: Could you cancel my order?
    classify: The striker scored twice in the final.
    labels: sports, politics, cooking

Tasks are ``classify``, ``tag``, ``sentiment``, ``intent``, and any name in
``options.label_sets`` (e.g. ``topic``). Labels come from,
first to last: the request's extra ``labels`` field (a list of names, or a
mapping of name → example sentence(s)), a ``labels:`` line, the model's
``options.label_sets[<task>]``, the built-in sets (``sentiment``: positive /
negative / neutral; ``intent``: question / request / complaint / greeting /
thanks / statement, each with a few example sentences). A label's prototype is
the normalised mean of its examples' embeddings (a bare name becomes one
example through ``options.label_template``, "This text is about {label}.",
which MiniLM matches far better than the bare word); the score is the cosine
between the text and each prototype, and the answer is the best label. The reply is JSON,
``{"task": ..., "label": ..., "scores": {label: cosine, ...}}`` (or the bare
label with ``options.output: label``). Anything else is a `BadRequestError`
saying this format, never an invented answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.encoders.base import Vectors
from modelyard.encoders.minilm import MiniLMEncoder, default_encoder
from modelyard.errors import BadRequestError, ProviderTimeoutError
from modelyard.providers.base import Provider
from modelyard.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, Usage

__all__ = ["BUILTIN_LABEL_SETS", "OnnxEmbedOptions", "OnnxEmbeddingProvider"]

_T = TypeVar("_T")
LabelSet = dict[str, list[str]]

#: Example sentences per label; prototypes are their mean embeddings.
BUILTIN_LABEL_SETS: dict[str, LabelSet] = {
    "sentiment": {
        "positive": [
            "I love it, this is great.",
            "Excellent quality, I'm very happy with it.",
            "Wonderful experience, highly recommended!",
            "This made my day, thank you so much.",
            "Fantastic, works perfectly.",
        ],
        "negative": [
            "I hate it, this is terrible.",
            "Awful quality, I'm very disappointed.",
            "Worst experience ever, do not buy.",
            "This is broken and useless.",
            "I'm angry and frustrated with this.",
        ],
        "neutral": [
            "The meeting is scheduled for Monday.",
            "The package contains two items.",
            "It is an average product, nothing special.",
            "The store is on Main Street.",
            "Please send the report by Friday.",
        ],
    },
    "intent": {
        "question": [
            "What time does it open?",
            "How do I reset my password?",
            "Where is the nearest station?",
            "Can you tell me what this means?",
            "Why is the sky blue?",
        ],
        "request": [
            "Please book a table for two.",
            "Send me the invoice.",
            "Cancel my subscription.",
            "Set an alarm for 7am.",
            "Could you order a pizza for me?",
        ],
        "complaint": [
            "My order arrived broken.",
            "Nobody answers my emails, this is unacceptable.",
            "I was charged twice.",
            "The service was terrible.",
            "The app keeps crashing.",
        ],
        "greeting": ["Hi there!", "Hello, good morning.", "Hey, how are you?", "Good evening!"],
        "thanks": ["Thanks a lot for your help!", "Thank you so much.", "I appreciate it.", "Many thanks!"],
        "statement": [
            "The meeting is at 3pm.",
            "I live in Berlin.",
            "The report has ten pages.",
            "My flight lands tomorrow morning.",
        ],
    },
}

_TASKS = {"classify": "classify", "classification": "classify", "tag": "tag", "tagging": "tag"}
_TASKS.update({"sentiment": "sentiment", "intent": "intent", "label": "classify", "topic": "classify"})
_TASK_LINE = re.compile(r"^\s*(?P<task>[A-Za-z]+)\s*:\s*(?P<rest>.*)$", re.DOTALL)
_LABELS_LINE = re.compile(r"^\s*labels\s*:\s*(?P<labels>.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_FORMAT_HINT = (
    "send '<task>: <text>' with task classify, tag, sentiment or intent, "
    "and for classify/tag a 'labels: a, b, c' line"
)


class OnnxEmbedOptions(BaseModel):
    """``options:`` of a ``provider: onnx-embed`` model."""

    model_config = ConfigDict(extra="forbid")
    max_length: int = Field(default=128, ge=8, le=512, description="tokens per text; longer is truncated")
    threads: int | None = Field(default=None, ge=1, description="onnxruntime intra-op threads")
    workers: int = Field(default=1, ge=1, le=8, description="inference threads (each runs one batch)")
    batch_size: int = Field(default=64, ge=1, le=1024)
    output: Literal["json", "label"] = "json"
    label_template: str = Field(
        default="This text is about {label}.", pattern=r"\{label\}", description="example for a bare name"
    )
    label_sets: dict[str, dict[str, list[str]] | list[str]] = Field(
        default_factory=dict, description="task → labels (names, or name → example sentences)"
    )


class _Task(BaseModel):
    task: str
    text: str
    labels: LabelSet


class OnnxEmbeddingProvider(Provider):
    """MiniLM embeddings and embedding-similarity classification; no network."""

    kind = "onnx-embed"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(OnnxEmbedOptions)
        o = self.options
        default = o.max_length == 128 and o.threads is None
        # The default encoder is shared per process (one ~25 MB session).
        self.encoder: MiniLMEncoder = (
            default_encoder() if default else MiniLMEncoder(max_length=o.max_length, threads=o.threads)
        )
        self._executor: ThreadPoolExecutor | None = None
        self._prototypes: dict[tuple[str, ...], Vectors] = {}
        self._proto_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.options.workers, thread_name_prefix="onnx-embed")
        return self._executor

    async def _run(self, fn: Callable[[], _T], limit: float | None) -> _T:
        """Run ``fn`` on the inference pool; the event loop never waits on the model."""
        future = asyncio.get_running_loop().run_in_executor(self._pool(), fn)
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise ProviderTimeoutError(
                f"local model {self.spec.name!r} did not answer within {limit or 0:.3f}s",
                model=self.spec.name,
                provider=self.kind,
            ) from None

    async def warmup(self) -> None:
        """Load the ONNX session and tokenizer now rather than on the first request."""
        await self._run(lambda: self.encoder.encode(["warm up"]), None)

    async def aclose(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- embeddings -------------------------------------------------------------

    def _encode(self, texts: Sequence[str], deadline: float | None) -> tuple[Vectors, list[int]]:
        """Batch by batch, so a call past its deadline stops between batches."""
        size = self.options.batch_size
        parts: list[Vectors] = []
        counts: list[int] = []
        for start in range(0, len(texts), size):
            if deadline is not None and time.monotonic() > deadline:
                raise ProviderTimeoutError(
                    f"local model {self.spec.name!r} passed its deadline after {start} texts",
                    model=self.spec.name,
                    provider=self.kind,
                )
            batch = texts[start : start + size]
            parts.append(self.encoder.encode(batch, batch_size=size))
            counts.extend(self.encoder.token_counts(batch))
        if not parts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32), []
        return np.concatenate(parts, axis=0), counts

    async def embed(self, texts: list[str], *, timeout: float | None = None) -> EmbeddingResponse:
        started = time.perf_counter()
        deadline = None if timeout is None else time.monotonic() + timeout
        vectors, counts = await self._run(lambda: self._encode(texts, deadline), timeout)
        usage = Usage(input_tokens=sum(counts))
        return EmbeddingResponse(
            model=self.spec.name,
            provider=self.kind,
            vectors=vectors.tolist(),
            usage=usage,
            cost_usd=self.cost(usage),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    # -- classification ("chat") ------------------------------------------------

    def _bad(self, reason: str) -> BadRequestError:
        return BadRequestError(
            f"{self.spec.name!r} is an embedding model (mlm): {reason}; {_FORMAT_HINT}",
            model=self.spec.name,
            provider=self.kind,
        )

    def parse_task(self, request: ChatRequest) -> _Task:
        """Read task, text and candidate labels from the request (see module docstring)."""
        if request.has_image:
            raise self._bad("it cannot read images")
        match = _TASK_LINE.match(request.last_user_text)
        word = match.group("task").lower() if match else ""
        task = word if word in self.options.label_sets else _TASKS.get(word)
        if match is None or task is None:
            raise self._bad("it does not write free text")
        body = match.group("rest")
        line = _LABELS_LINE.search(body) or _LABELS_LINE.search(request.system_text)
        text = _LABELS_LINE.sub("", body).strip()
        if not text:
            raise self._bad("there is no text to classify")
        labels = self._labels(task, request, line.group("labels") if line else None)
        if len(labels) < 2:
            raise self._bad(f"task {task!r} needs at least two labels")
        return _Task(task=task, text=text, labels=labels)

    def _labels(self, task: str, request: ChatRequest, line: str | None) -> LabelSet:
        extra = (request.model_extra or {}).get("labels")
        if extra is not None:
            return _label_set(extra, self._template, self._bad)
        if line is not None:
            return _label_set(line.split(","), self._template, self._bad)
        if task in self.options.label_sets:
            return _label_set(self.options.label_sets[task], self._template, self._bad)
        return BUILTIN_LABEL_SETS.get(task, {})

    def _template(self, name: str) -> str:
        return self.options.label_template.replace("{label}", name.replace("_", " "))

    def _prototype(self, examples: list[str]) -> Vectors:
        key = tuple(examples)
        with self._proto_lock:
            cached = self._prototypes.get(key)
        if cached is not None:
            return cached
        mean = self.encoder.encode(examples).mean(axis=0)
        proto: Vectors = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        with self._proto_lock:
            if len(self._prototypes) >= 1024:
                self._prototypes.clear()
            self._prototypes[key] = proto
        return proto

    def _classify(self, task: _Task, deadline: float | None) -> tuple[dict[str, float], int]:
        vectors, counts = self._encode([task.text], deadline)
        protos = np.stack([self._prototype(examples) for examples in task.labels.values()])
        scores = protos @ vectors[0]
        return {name: round(float(s), 4) for name, s in zip(task.labels, scores, strict=True)}, counts[0]

    async def _answer(self, request: ChatRequest, limit: float | None) -> tuple[str, Usage, float]:
        started = time.perf_counter()
        task = self.parse_task(request)
        deadline = None if limit is None else time.monotonic() + limit
        scores, tokens = await self._run(lambda: self._classify(task, deadline), limit)
        best = max(scores, key=lambda name: scores[name])
        json_wanted = (request.response_format or {}).get("type") in ("json_object", "json_schema")
        if self.options.output == "label" and not json_wanted:
            text = best
        else:
            text = json.dumps({"task": task.task, "label": best, "scores": scores})
        return text, Usage(input_tokens=tokens), (time.perf_counter() - started) * 1000.0

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        text, usage, latency = await self._answer(request, timeout)
        response = ChatResponse(model=self.spec.name, provider=self.kind, text=text, usage=usage)
        return self.finish(response.model_copy(update={"latency_ms": latency}))

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """The same answer as `chat`, in one piece: a classifier has nothing to trickle."""
        text, usage, _ = await self._answer(request, timeout)
        yield StreamChunk(text=text)
        yield StreamChunk(finish_reason="stop", usage=usage)


def _label_set(
    raw: object, template: Callable[[str], str], bad: Callable[[str], BadRequestError]
) -> LabelSet:
    """Names, or name → example(s), as name → non-empty list of examples."""
    out: LabelSet = {}
    if isinstance(raw, dict):
        for name, examples in raw.items():
            items = [examples] if isinstance(examples, str) else examples
            if not isinstance(items, list) or not all(isinstance(e, str) and e.strip() for e in items):
                raise bad(f"label {name!r} needs a sentence or a list of sentences")
            out[str(name).strip()] = items or [template(str(name).strip())]
    elif isinstance(raw, list) and all(isinstance(name, str) for name in raw):
        for name in raw:
            if name.strip():
                out[name.strip()] = [template(name.strip())]
    else:
        raise bad("'labels' must be a list of names or a mapping of name to example sentences")
    return out
