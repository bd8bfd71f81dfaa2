"""The `Provider` seam: send one request to one model, in its wire format.

A provider is bound to one `ModelSpec`. It knows nothing of routers, budgets or
fallbacks; it translates the OpenAI-shaped request to its upstream, maps every
upstream failure to the `modelyard.errors.ProviderError` tree, and reports usage
and cost. Resilience and telemetry wrap it from outside.
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from modelyard.config.errors_format import first_error
from modelyard.config.models import ModelSpec
from modelyard.errors import AuthenticationError, BadRequestError, ConfigError
from modelyard.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, Usage

__all__ = ["Provider", "ProviderContext"]

_O = TypeVar("_O", bound=BaseModel)


class ProviderContext:
    """What providers share: one pooled HTTP client and the environment.

    One context per engine (not per process), so tests and several engines
    in one process never share hidden state. The client is an
    ``aiohttp.ClientSession``, opened on first use inside the running event
    loop (aiohttp binds a session to its loop); a context used from a new
    loop opens a new one.
    """

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self._owns_http = http is None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self.env: Mapping[str, str] = env if env is not None else os.environ

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._owns_http:
            loop = asyncio.get_running_loop()
            if self._http is None or self._http_loop is not loop:
                from modelyard.providers.http import new_session  # http.py imports this module

                self._http, self._http_loop = new_session(), loop
        assert self._http is not None
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.close()
            self._http = None

    def __repr__(self) -> str:
        return "ProviderContext()"


class Provider(ABC):
    """One model behind one wire protocol.

    Subclasses set ``kind`` and implement `chat` and `stream`; embedding models
    implement `embed`. ``timeout`` is seconds for the whole call (the caller
    derives it from the request's deadline).
    """

    kind: ClassVar[str]
    simulated: ClassVar[bool] = False
    #: True for runtimes that run in this process with packaged weights (``modelyard doctor``
    #: self-tests each of them with one token or one embedding).
    local: ClassVar[bool] = False
    #: The most choices one upstream call returns (OpenAI ``n``, Gemini ``candidateCount``).
    #: 1 means the protocol has no such parameter: the engine fans ``n > 1`` out as separate
    #: calls, and the call path never hands this provider a request with ``n > 1``. A class
    #: default; a provider may set it per model from its options.
    max_choices: int = 1

    def __init__(self, spec: ModelSpec, context: ProviderContext | None = None) -> None:
        self.spec = spec
        self.context = context or ProviderContext()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.spec.name!r}, kind={self.kind!r})"

    # -- the interface -------------------------------------------------------

    @abstractmethod
    async def chat(self, request: ChatRequest, *, timeout: float | None = None) -> ChatResponse:
        """Return the whole answer."""

    @abstractmethod
    def stream(
        self, request: ChatRequest, *, timeout: float | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Yield the answer in pieces; the last chunk carries usage."""

    async def embed(self, texts: list[str], *, timeout: float | None = None) -> EmbeddingResponse:
        raise BadRequestError(
            f"model {self.spec.name!r} does not produce embeddings",
            model=self.spec.name,
            provider=self.kind,
        )

    async def aclose(self) -> None:
        """Release resources the provider holds itself (not the shared client)."""

    # -- helpers for subclasses ---------------------------------------------

    def api_key(self) -> str | None:
        """Read the key from the named environment variable at call time.

        The key is never stored on the provider, so it cannot leak via repr.
        """
        var = self.spec.api_key_env
        if var is None:
            return None
        value = self.context.env.get(var)
        if not value:
            raise AuthenticationError(
                f"environment variable {var} is not set; export it to call {self.spec.name!r}",
                model=self.spec.name,
                provider=self.kind,
            )
        return value

    def cost(self, usage: Usage) -> float:
        return self.spec.price.cost(usage)

    def finish(self, response: ChatResponse) -> ChatResponse:
        """Fill the fields every provider's response shares."""
        return response.model_copy(
            update={
                "model": self.spec.name,
                "provider": self.kind,
                "family": self.spec.family,
                "cost_usd": self.cost(response.usage),
                "simulated": self.simulated,
                "upstream_model": response.upstream_model or self.spec.wire_model,
            }
        )

    def parse_options(self, model: type[_O]) -> _O:
        """Validate ``spec.options`` against a provider's own options model.

        Errors name the key path (``models.<name>.options.<key>``) like any other
        config error, and are raised when the engine is built, not on first call.
        """
        try:
            return model.model_validate(self.spec.options)
        except ValidationError as exc:
            sub, reason = first_error(exc, model)
            key = f"models.{self.spec.name}.options" + (f".{sub}" if sub else "")
            raise ConfigError(reason, key=key) from None
