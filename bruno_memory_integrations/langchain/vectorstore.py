"""LangChain ``VectorStore`` over a :class:`~bruno_memory_integrations.Store`.

A ``Document(page_content, metadata, id)`` is stored as a
``Record(id, text, vector, metadata)``; search results come back as Documents
with the store's one score (in [0, 1], higher is closer) and the same metadata
filter language on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from ..adapters_common import StoreOwner, user_metadata
from ..embeddings import embedding_model_name
from ..logs import get_logger, log_slow
from ..progress import progress_bar
from ..store import Store
from ..types import Record, SearchResult
from ..validation import check_name, new_id

__all__ = ["BrunoVectorStore"]

DEFAULT_STORE = "sqlite:///bruno_memory.db"
DEFAULT_BATCH_SIZE = 256
Filter = Mapping[str, Any]
_log = get_logger("langchain")


def _reject_extra(kwargs: Mapping[str, Any], method: str) -> None:
    # An unknown option (a misspelt `filter`, another store's `where=`) must not be
    # dropped silently: the search would return unfiltered results.
    if kwargs:
        raise TypeError(
            f"BrunoVectorStore.{method}() got unexpected keyword arguments "
            f"{sorted(kwargs)}; metadata conditions go in filter= (see docs/filters.md)"
        )


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _document(record: Record) -> Document:
    return Document(page_content=record.text, metadata=user_metadata(record.metadata), id=record.id)


def _scored_documents(hits: Sequence[SearchResult]) -> list[tuple[Document, float]]:
    return [(_document(hit.record), hit.score) for hit in hits]


def _plan_add(
    texts: Iterable[str],
    metadatas: Sequence[Mapping[str, Any] | None] | None,
    ids: Sequence[str | None] | None,
) -> tuple[list[str], list[Mapping[str, Any]], list[str]]:
    """Line up texts, metadata and ids; missing ids become fresh UUID4 strings."""
    texts_ = list(texts)
    if metadatas is not None and len(metadatas) != len(texts_):
        raise ValueError(f"got {len(metadatas)} metadatas for {len(texts_)} texts")
    if ids is not None and len(ids) != len(texts_):
        raise ValueError(f"got {len(ids)} ids for {len(texts_)} texts")
    metas = [m or {} for m in metadatas] if metadatas is not None else [{}] * len(texts_)
    ids_ = [i or new_id() for i in ids] if ids is not None else [new_id() for _ in texts_]
    return texts_, metas, ids_


def _records(
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: Sequence[Sequence[float]],
    metadatas: Sequence[Mapping[str, Any]],
) -> list[Record]:
    if len(vectors) != len(texts):
        raise ValueError(
            f"the embedding model returned {len(vectors)} vectors for {len(texts)} texts"
        )
    return [
        Record(i, t, list(v), dict(m))
        for i, t, v, m in zip(ids, texts, vectors, metadatas, strict=True)
    ]


def _documents_with_ids(
    documents: Sequence[Document], ids: Sequence[str | None] | None
) -> tuple[list[str], list[Mapping[str, Any]], list[str | None]]:
    texts = [d.page_content for d in documents]
    metas: list[Mapping[str, Any]] = [d.metadata for d in documents]
    return texts, metas, list(ids) if ids is not None else [d.id for d in documents]


class BrunoVectorStore(StoreOwner, VectorStore):
    """A LangChain vector store on any backend (SQLite, PostgreSQL, Redis, memory...).

    Args:
        embedding: The LangChain embeddings used for documents and queries. Its
            model name is recorded with the collection on the first write and
            checked on every later write and query, so two models never mix.
        store: A :class:`~bruno_memory_integrations.Store`, a store URL
            (``"sqlite:///memory.db"``, ``"postgresql://..."``, ``"redis://..."``,
            ``"memory://"``) or a driver client accepted by
            :func:`~bruno_memory_integrations.open_store`.
        collection: The vector collection to use; created on first write.
        metric: ``"cosine"`` (default of the store), ``"euclidean"`` or ``"dot"``;
            used when the collection is created and checked afterwards.
        show_progress: Draw a progress bar (tqdm, on stderr) during bulk adds; each
            ``add_texts`` / ``add_documents`` call may override it.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> vs = BrunoVectorStore(DeterministicFakeEmbedding(size=8), store="memory://")
        >>> fruit = {"kind": "fruit"}
        >>> vs.add_texts(["apples", "pears"], [fruit, fruit])  # doctest: +SKIP
        >>> vs.similarity_search_with_score("apples", k=1, filter=fruit)  # doctest: +SKIP
    """

    def __init__(
        self,
        embedding: Embeddings,
        store: Store | str | Any = DEFAULT_STORE,
        collection: str = "langchain",
        metric: str | None = None,
        *,
        show_progress: bool = False,
        tenant: str | None = None,
    ) -> None:
        self.embedding = embedding
        self._attach_store(store, tenant=tenant)
        self.collection = check_name(collection)
        self.metric = metric
        self.show_progress = show_progress
        self.embedding_model = embedding_model_name(embedding)

    def __repr__(self) -> str:
        return (
            f"BrunoVectorStore(store={self.store!r}, collection={self.collection!r}, "
            f"embedding_model={self.embedding_model!r})"
        )

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings used for documents and queries."""
        return self.embedding

    # ------------------------------------------------------------------ writes
    def _upsert(self, records: list[Record], ttl: float | None) -> None:
        with log_slow(_log, "upsert", collection=self.collection, records=len(records)):
            self.store.upsert(
                self.collection,
                records,
                embedding_model=self.embedding_model,
                metric=self.metric,
                ttl=ttl,
            )

    async def _aupsert(self, records: list[Record], ttl: float | None) -> None:
        with log_slow(_log, "upsert", collection=self.collection, records=len(records)):
            await self.store.aupsert(
                self.collection,
                records,
                embedding_model=self.embedding_model,
                metric=self.metric,
                ttl=ttl,
            )

    def _bar(self, total: int, show_progress: bool | None) -> Any:
        enabled = self.show_progress if show_progress is None else show_progress
        return progress_bar(total, f"adding to {self.collection}", enabled=enabled, unit="text")

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        ttl: float | None = None,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed texts and upsert them, ``batch_size`` texts per embedding call and write.

        Args:
            texts: The texts to add.
            metadatas: One JSON-object metadata per text.
            ids: One id per text (``None`` entries get a new UUID4); an existing id
                is replaced, never duplicated.
            batch_size: Texts per embedding call and per store write.
            ttl: Seconds until these records expire (backends with TTL only).
            show_progress: Draw a progress bar advanced after each batch (default:
                the store's ``show_progress``).
            **kwargs: Not accepted; an unknown option raises ``TypeError``.

        Returns:
            The ids written, in the order of ``texts``.

        Raises:
            ValueError: Lengths differ, or the input is invalid (nothing of the
                failing batch is written).
            CollectionMismatchError: The collection was built with another
                embedding model or metric.
        """
        _reject_extra(kwargs, "add_texts")
        size = _check_batch_size(batch_size)
        texts_, metas, ids_ = _plan_add(texts, metadatas, ids)
        with self._bar(len(texts_), show_progress) as bar:
            for start in range(0, len(texts_), size):
                chunk = slice(start, start + size)
                vectors = self.embedding.embed_documents(texts_[chunk])
                self._upsert(_records(ids_[chunk], texts_[chunk], vectors, metas[chunk]), ttl)
                bar.update(len(texts_[chunk]))
        return ids_

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        ttl: float | None = None,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`, embedding with ``aembed_documents``."""
        _reject_extra(kwargs, "aadd_texts")
        size = _check_batch_size(batch_size)
        texts_, metas, ids_ = _plan_add(texts, metadatas, ids)
        with self._bar(len(texts_), show_progress) as bar:
            for start in range(0, len(texts_), size):
                chunk = slice(start, start + size)
                vectors = await self.embedding.aembed_documents(texts_[chunk])
                records = _records(ids_[chunk], texts_[chunk], vectors, metas[chunk])
                await self._aupsert(records, ttl)
                bar.update(len(texts_[chunk]))
        return ids_

    def add_documents(
        self, documents: list[Document], *, ids: Sequence[str | None] | None = None, **kwargs: Any
    ) -> list[str]:
        """Add Documents; ids come from ``ids``, else ``Document.id``, else a new UUID4.

        The Documents are not modified. Takes the keyword options of :meth:`add_texts`.
        """
        texts, metas, ids_ = _documents_with_ids(documents, ids)
        return self.add_texts(texts, list(metas), ids=ids_, **kwargs)  # type: ignore[arg-type]

    async def aadd_documents(
        self, documents: list[Document], *, ids: Sequence[str | None] | None = None, **kwargs: Any
    ) -> list[str]:
        """Async :meth:`add_documents`."""
        texts, metas, ids_ = _documents_with_ids(documents, ids)
        return await self.aadd_texts(texts, list(metas), ids=ids_, **kwargs)  # type: ignore[arg-type]

    def delete(
        self, ids: Sequence[str] | None = None, filter: Filter | None = None, **kwargs: Any
    ) -> bool:
        """Delete by ids, or every Document whose metadata matches ``filter``.

        Args:
            ids: Ids to delete; missing ids are ignored.
            filter: A metadata filter (docs/filters.md); ``{}`` deletes everything.

        Returns:
            ``True``.

        Raises:
            InvalidInputError: Both or neither of ``ids`` and ``filter`` were given.
        """
        _reject_extra(kwargs, "delete")
        self.store.delete(self.collection, None if ids is None else list(ids), filter=filter)
        return True

    async def adelete(
        self, ids: Sequence[str] | None = None, filter: Filter | None = None, **kwargs: Any
    ) -> bool:
        """Async :meth:`delete`."""
        _reject_extra(kwargs, "adelete")
        await self.store.adelete(self.collection, None if ids is None else list(ids), filter=filter)
        return True

    # ------------------------------------------------------------------ reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids in the order asked; missing ids are left out."""
        records = self.store.get(self.collection, list(ids), include_vectors=False)
        return [_document(r) for r in records]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        records = await self.store.aget(self.collection, list(ids), include_vectors=False)
        return [_document(r) for r in records]

    def _search(
        self,
        vector: Sequence[float],
        k: int,
        filter: Filter | None,
        score_threshold: float | None,
        include_vectors: bool = False,
    ) -> list[SearchResult]:
        return self.store.search(
            self.collection,
            vector,
            k=k,
            filter=filter,
            score_threshold=score_threshold,
            include_vectors=include_vectors,
            embedding_model=self.embedding_model,
        )

    async def _asearch(
        self,
        vector: Sequence[float],
        k: int,
        filter: Filter | None,
        score_threshold: float | None,
        include_vectors: bool = False,
    ) -> list[SearchResult]:
        return await self.store.asearch(
            self.collection,
            vector,
            k=k,
            filter=filter,
            score_threshold=score_threshold,
            include_vectors=include_vectors,
            embedding_model=self.embedding_model,
        )

    def similarity_search_with_score_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        filter: Filter | None = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """The ``k`` Documents nearest to a vector, with scores in [0, 1] (higher is closer).

        Args:
            embedding: The query vector.
            k: How many Documents to return at most.
            filter: A metadata filter (docs/filters.md).
            score_threshold: Drop results scoring below this.
            **kwargs: Not accepted; an unknown option raises ``TypeError``.
        """
        _reject_extra(kwargs, "similarity_search_with_score_by_vector")
        return _scored_documents(self._search(embedding, k, filter, score_threshold))

    async def asimilarity_search_with_score_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        filter: Filter | None = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score_by_vector`."""
        _reject_extra(kwargs, "asimilarity_search_with_score_by_vector")
        return _scored_documents(await self._asearch(embedding, k, filter, score_threshold))

    def similarity_search_with_score(  # type: ignore[override]
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` Documents most similar to ``query``, with scores in [0, 1].

        The score is the store's one score (higher is closer, the same rule on
        every backend), so it is also the relevance score. Takes
        ``score_threshold=`` like :meth:`similarity_search_with_score_by_vector`.
        """
        vector = self.embedding.embed_query(query)
        return self.similarity_search_with_score_by_vector(vector, k, filter, **kwargs)

    async def asimilarity_search_with_score(  # type: ignore[override]
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        vector = await self.embedding.aembed_query(query)
        return await self.asimilarity_search_with_score_by_vector(vector, k, filter, **kwargs)

    def similarity_search(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` Documents most similar to ``query`` among those matching ``filter``."""
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search`."""
        hits = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [d for d, _ in hits]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` Documents nearest to a vector among those matching ``filter``."""
        hits = self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [d for d, _ in hits]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search_by_vector`."""
        hits = await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [d for d, _ in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # The store's scores already are relevance scores in [0, 1].
        return lambda score: score

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self.similarity_search_with_score(query, k, **kwargs)

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return await self.asimilarity_search_with_score(query, k, **kwargs)

    # ------------------------------------------------------------------ MMR
    @staticmethod
    def _mmr(
        query: Sequence[float], hits: list[SearchResult], k: int, lambda_mult: float
    ) -> list[Document]:
        if not hits:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(query, dtype=float),
            [list(h.record.vector or ()) for h in hits],
            lambda_mult=lambda_mult,
            k=k,
        )
        return [_document(hits[i].record) for i in chosen]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Documents chosen for similarity to the query and diversity among themselves.

        Fetches the ``max(fetch_k, k)`` nearest Documents matching ``filter`` (with
        their vectors) and picks ``k`` of them by maximal marginal relevance.

        Args:
            embedding: The query vector.
            k: How many Documents to return.
            fetch_k: How many candidates to fetch.
            lambda_mult: 1 favours similarity only, 0 diversity only.
            filter: A metadata filter (docs/filters.md).
            score_threshold: Drop candidates scoring below this.
            **kwargs: Not accepted; an unknown option raises ``TypeError``.
        """
        _reject_extra(kwargs, "max_marginal_relevance_search")
        hits = self._search(embedding, max(fetch_k, k), filter, score_threshold, True)
        return self._mmr(embedding, hits, k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        *,
        score_threshold: float | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        _reject_extra(kwargs, "amax_marginal_relevance_search")
        hits = await self._asearch(embedding, max(fetch_k, k), filter, score_threshold, True)
        return self._mmr(embedding, hits, k, lambda_mult)

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search_by_vector` for a text query."""
        vector = self.embedding.embed_query(query)
        return self.max_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, filter, **kwargs
        )

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        vector = await self.embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, filter, **kwargs
        )

    # ------------------------------------------------------------------ text search
    def keyword_search(
        self, query: str, k: int = 4, filter: Filter | None = None
    ) -> list[tuple[Document, float]]:
        """Documents containing every word of ``query``, most relevant first.

        Scores are in [0, 1). Needs a backend with the ``keyword_search`` capability.

        Raises:
            NotSupportedError: The backend has no keyword search.
        """
        return _scored_documents(
            self.store.keyword_search(self.collection, query, k=k, filter=filter)
        )

    async def akeyword_search(
        self, query: str, k: int = 4, filter: Filter | None = None
    ) -> list[tuple[Document, float]]:
        """Async :meth:`keyword_search`."""
        hits = await self.store.akeyword_search(self.collection, query, k=k, filter=filter)
        return _scored_documents(hits)

    def hybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Filter | None = None,
        *,
        fetch_k: int | None = None,
        rrf_k: int = 60,
    ) -> list[tuple[Document, float]]:
        """Vector and keyword search fused by reciprocal rank fusion, scores in [0, 1].

        Args:
            query: The text, both embedded and matched by words.
            k: How many Documents to return.
            filter: A metadata filter applied to both searches.
            fetch_k: Candidates per search (default ``4 * k``).
            rrf_k: The RRF constant.

        Raises:
            NotSupportedError: The backend has no hybrid search.
        """
        vector = self.embedding.embed_query(query)
        hits = self.store.hybrid_search(
            self.collection, query, vector, k=k, filter=filter, fetch_k=fetch_k, rrf_k=rrf_k,
            embedding_model=self.embedding_model,
        )
        return _scored_documents(hits)

    async def ahybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Filter | None = None,
        *,
        fetch_k: int | None = None,
        rrf_k: int = 60,
    ) -> list[tuple[Document, float]]:
        """Async :meth:`hybrid_search`."""
        vector = await self.embedding.aembed_query(query)
        hits = await self.store.ahybrid_search(
            self.collection, query, vector, k=k, filter=filter, fetch_k=fetch_k, rrf_k=rrf_k,
            embedding_model=self.embedding_model,
        )
        return _scored_documents(hits)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        store: Store | str | Any = DEFAULT_STORE,
        collection: str = "langchain",
        metric: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        show_progress: bool = False,
        tenant: str | None = None,
        **kwargs: Any,
    ) -> BrunoVectorStore:
        """Open a vector store and add ``texts`` to it.

        Args:
            texts: The texts to add.
            embedding: The embeddings to use.
            metadatas: One metadata per text.
            ids: One id per text.
            store: A Store, URL or client (see :class:`BrunoVectorStore`).
            collection: The collection name.
            metric: The distance metric of a new collection.
            batch_size: Texts per embedding call and store write.
            show_progress: Draw a progress bar while adding (and on later adds).
            tenant: Keep the records in this tenant's space (see ``Store.tenant``).
            **kwargs: Not accepted; an unknown option raises ``TypeError``.
        """
        _reject_extra(kwargs, "from_texts")
        vs = cls(
            embedding, store=store, collection=collection, metric=metric,
            show_progress=show_progress, tenant=tenant,
        )
        vs.add_texts(texts, metadatas, ids=ids, batch_size=batch_size)
        return vs

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        store: Store | str | Any = DEFAULT_STORE,
        collection: str = "langchain",
        metric: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        show_progress: bool = False,
        tenant: str | None = None,
        **kwargs: Any,
    ) -> BrunoVectorStore:
        """Async :meth:`from_texts`."""
        _reject_extra(kwargs, "afrom_texts")
        vs = cls(
            embedding, store=store, collection=collection, metric=metric,
            show_progress=show_progress, tenant=tenant,
        )
        await vs.aadd_texts(texts, metadatas, ids=ids, batch_size=batch_size)
        return vs
