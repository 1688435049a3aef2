"""One embedding object for both frameworks: LangChain <-> LlamaIndex adapters.

Install with ``pip install 'bruno-memory-integrations[llama-index,langchain]'``.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError

try:
    from langchain_core.embeddings import Embeddings
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("langchain-core", "langchain", "embeddings") from exc
try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError(
        "llama-index-core", "llama-index", "LlamaIndex embeddings"
    ) from exc

from . import embedding_model_name

__all__ = ["LlamaIndexEmbedding", "from_llama_index_embedding", "to_llama_index_embedding"]


class LlamaIndexEmbedding(BaseEmbedding):
    """A LlamaIndex embed model backed by any LangChain ``Embeddings``.

    Queries go to ``embed_query`` / ``aembed_query``, texts to
    ``embed_documents`` / ``aembed_documents``, so query/passage prefixes and
    batching of the wrapped object apply unchanged. The async methods await the
    wrapped object's async methods and never block the event loop (LlamaIndex's
    default async methods would call the sync ones).

    Example:
        >>> from bruno_memory_integrations.embeddings import OfflineEmbeddings
        >>> embed_model = LlamaIndexEmbedding(OfflineEmbeddings())
    """

    _embeddings: Any = PrivateAttr()

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        model_name: str | None = None,
        embed_batch_size: int = 256,
        **kwargs: Any,
    ) -> None:
        """Wrap ``embeddings``.

        Args:
            embeddings: Any LangChain ``Embeddings`` object.
            model_name: Name shown by LlamaIndex; defaults to
                :func:`~bruno_memory_integrations.embeddings.embedding_model_name`.
            embed_batch_size: Texts LlamaIndex hands over per call; the wrapped
                object may batch further.
            **kwargs: Other ``BaseEmbedding`` fields (``callback_manager``, ...).
        """
        super().__init__(
            model_name=model_name or embedding_model_name(embeddings),
            embed_batch_size=embed_batch_size,
            **kwargs,
        )
        self._embeddings = embeddings

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing this component."""
        return "BrunoLangChainEmbedding"

    @property
    def langchain_embeddings(self) -> Embeddings:
        """The wrapped LangChain object."""
        return self._embeddings  # type: ignore[no-any-return]

    def _get_query_embedding(self, query: str) -> list[float]:
        return list(self._embeddings.embed_query(query))

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return list(await self._embeddings.aembed_query(query))

    def _get_text_embedding(self, text: str) -> list[float]:
        return list(self._embeddings.embed_documents([text])[0])

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return list((await self._embeddings.aembed_documents([text]))[0])

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self._embeddings.embed_documents(list(texts))]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in await self._embeddings.aembed_documents(list(texts))]


class _LangChainFromLlamaIndex(Embeddings):
    """LangChain ``Embeddings`` backed by a LlamaIndex embed model."""

    def __init__(self, embed_model: BaseEmbedding) -> None:
        self.embed_model = embed_model
        self.model_name: str = embedding_model_name(embed_model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.embed_model.get_text_embedding_batch(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return list(self.embed_model.get_query_embedding(text))

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = await self.embed_model.aget_text_embedding_batch(list(texts))
        return [list(v) for v in vectors]

    async def aembed_query(self, text: str) -> list[float]:
        return list(await self.embed_model.aget_query_embedding(text))


def to_llama_index_embedding(embeddings: Embeddings | BaseEmbedding) -> BaseEmbedding:
    """Return a LlamaIndex embed model for a LangChain ``Embeddings`` object.

    Args:
        embeddings: A LangChain ``Embeddings``; a LlamaIndex ``BaseEmbedding`` is
            returned unchanged, and one made by :func:`from_llama_index_embedding`
            is unwrapped.

    Returns:
        A ``BaseEmbedding`` usable as ``embed_model`` anywhere in LlamaIndex.
    """
    if isinstance(embeddings, BaseEmbedding):
        return embeddings
    if isinstance(embeddings, _LangChainFromLlamaIndex):
        return embeddings.embed_model
    if not isinstance(embeddings, Embeddings):
        raise TypeError(f"expected LangChain Embeddings, got {type(embeddings).__name__}")
    return LlamaIndexEmbedding(embeddings)


def from_llama_index_embedding(embed_model: BaseEmbedding | Embeddings) -> Embeddings:
    """Return a LangChain ``Embeddings`` for a LlamaIndex embed model.

    Args:
        embed_model: A LlamaIndex ``BaseEmbedding``; a LangChain ``Embeddings`` is
            returned unchanged, and a :class:`LlamaIndexEmbedding` is unwrapped.

    Returns:
        A LangChain ``Embeddings`` whose ``embed_query`` uses the model's query
        embedding and ``embed_documents`` its text embedding.
    """
    if isinstance(embed_model, LlamaIndexEmbedding):
        return embed_model.langchain_embeddings
    if isinstance(embed_model, Embeddings):
        return embed_model
    if not isinstance(embed_model, BaseEmbedding):
        raise TypeError(f"expected a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}")
    return _LangChainFromLlamaIndex(embed_model)
