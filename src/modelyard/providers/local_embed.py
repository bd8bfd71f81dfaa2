"""Local `mlm` provider: all-MiniLM-L6-v2 (int8 ONNX) embeddings, in-process.

``embed(texts)`` returns 384-dimensional unit vectors from the packaged MiniLM
encoder (`modelyard.encoders.minilm`), with the tokenizer's real token counts.

An MLM does not write text, so ``chat`` answers only what an encoder can do
honestly: **classification of one text**. The request is read by
`modelyard.types.classification.read_classification`, the same reader the
registry's capability check uses (so the router never sends this model anything
else), in either form::

    sentiment: The battery died after two days.
    classify: The striker scored twice in the final.
    labels: sports, politics, cooking

    Is this review positive or negative: I loved it
    Classify this as billing, technical or sales: my card was charged twice
    What language is 'Guten Morgen'?

Tasks are ``sentiment`` (positive / negative / neutral), ``intent`` (question /
request / complaint / greeting / thanks / statement), ``language``, ``classify`` /
``tag`` with labels from the request, and any name in ``options.label_sets``
(e.g. ``topic``). Labels come from the request's extra ``labels`` field, the
question itself or a ``labels:`` line, the model's ``options.label_sets``, or the
built-in sets (`modelyard.providers.zero_shot`). Classification is zero-shot by
embedding similarity: the score of a label is the cosine between the text and the
label's prototype (mean embedding of its examples), and the answer is the best
label. ``language`` uses a language identifier instead (`modelyard.providers.langid`;
MiniLM is English-only), scores being its probabilities.

The reply for a task prefix is JSON, ``{"task": ..., "label": ..., "scores": {label:
score, ...}}`` (or the bare label with ``options.output: label``); for a question
in natural language it is one sentence ("Sentiment: positive.") followed by the same
JSON on the next line; with ``response_format`` JSON it is the JSON alone. Anything
else is a `BadRequestError` saying why and what format works, never an invented
answer.
"""

from __future__ import annotations

import asyncio
import json
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
from modelyard.providers.langid import DEFAULT_LANGUAGES, LANGUAGE_NAMES, code_for, identify
from modelyard.providers.zero_shot import BUILTIN_LABEL_SETS, LabelSet, builtin_examples, label_set
from modelyard.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, Usage
from modelyard.types.classification import ClassificationTask, NotClassification, read_classification

__all__ = ["BUILTIN_LABEL_SETS", "OnnxEmbedOptions", "OnnxEmbeddingProvider"]

_T = TypeVar("_T")

_FORMAT_HINT = (
    "send one text to classify: '<task>: <text>' with task sentiment, intent, language, classify or tag "
    "(classify/tag with a 'labels: a, b, c' line), or a question such as "
    "'Is this review positive or negative: <text>'"
)
_TITLES = {"sentiment": "Sentiment", "intent": "Intent", "language": "Language"}


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
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        min_length=2,
        description="ISO 639-1 codes the language task chooses among",
    )


class _Task(BaseModel):
    task: str
    text: str
    labels: LabelSet
    form: Literal["prefix", "natural"] = "prefix"
    #: for the language task: label → ISO code
    codes: dict[str, str] = Field(default_factory=dict)


class OnnxEmbeddingProvider(Provider):
    """MiniLM embeddings and embedding-similarity classification; no network."""

    kind = "onnx-embed"
    local = True

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
        extra = (request.model_extra or {}).get("labels")
        given = label_set(extra, self._template, self._bad) if extra is not None else None
        read = read_classification(request, self.options.label_sets)
        if isinstance(read, NotClassification):
            raise self._bad(read.reason)
        if read.task == "language" and given is None:
            return self._language_task(read)
        labels = given if given is not None else self._labels(read)
        if len(labels) < 2:
            raise self._bad(f"task {read.task!r} needs at least two labels")
        return _Task(task=read.task, text=read.text, labels=labels, form=read.form)

    def _labels(self, read: ClassificationTask) -> LabelSet:
        configured = self.options.label_sets.get(read.task)
        if read.labels is None:
            if configured is not None:
                return label_set(configured, self._template, self._bad)
            return dict(BUILTIN_LABEL_SETS.get(read.task, {}))
        mine = label_set(configured, self._template, self._bad) if configured is not None else {}
        return {name: mine.get(name) or builtin_examples(name) or [self._template(name)] for name in read.labels}

    def _language_task(self, read: ClassificationTask) -> _Task:
        if read.labels is None:
            codes = {LANGUAGE_NAMES.get(c, c): c for c in self.options.languages}
        else:
            codes = {}
            for name in read.labels:
                code = code_for(name)
                if code is None:
                    raise self._bad(f"unknown language {name!r}")
                codes[LANGUAGE_NAMES.get(code, name)] = code
        return _Task(task="language", text=read.text, labels={}, form=read.form, codes=codes)

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
        if task.task == "language":
            guess = identify(task.text, list(task.codes.values()), top=len(task.codes))
            by_code = dict(guess.ranking)
            counts = self.encoder.token_counts([task.text])
            return {label: by_code.get(code, 0.0) for label, code in task.codes.items()}, counts[0]
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
        if task.task == "language":  # the top few: the full list of languages says nothing more
            scores = dict(sorted(scores.items(), key=lambda kv: -kv[1])[:5])
        answer: dict[str, object] = {"task": task.task, "label": best, "scores": scores}
        if task.codes:
            answer["code"] = task.codes[best]
        if self.options.output == "label" and not json_wanted:
            text = best
        elif task.form == "natural" and not json_wanted:
            title = _TITLES.get(task.task, "Label")
            text = f"{title}: {best}.\n{json.dumps(answer, ensure_ascii=False)}"
        else:
            text = json.dumps(answer, ensure_ascii=False)
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

