"""``BrunoVectorStore``: a LlamaIndex vector store over any :class:`~.Store`.

A node becomes a :class:`~bruno_memory_integrations.Record`: its id, its text
(``get_content(MetadataMode.NONE)``), its embedding and its metadata as the user
wrote it, plus two reserved keys (see ``adapters_common``): the source document id
(filterable, so ``delete(ref_doc_id)`` is one delete by filter) and a JSON string
with everything else needed to rebuild the node. Records written by the LangChain
adapter have no such string and come back as plain ``TextNode`` objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.constants import DATA_KEY, TYPE_KEY
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode, Node, TextNode
from llama_index.core.storage.docstore.utils import json_to_doc
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from ..adapters_common import NODE_KEY, REF_DOC_KEY, StoreOwner, user_metadata
from ..errors import InvalidInputError
from ..filters import matches
from ..logs import get_logger, log_slow
from ..progress import progress_bar
from ..registry import open_store
from ..store import Store
from ..types import Record, SearchResult
from ..validation import check_name
from .filters import to_bruno_filter

__all__ = ["BrunoVectorStore", "node_to_record", "record_to_node"]

#: Where a node keeps its text, recorded in the node string so it can be put back.
_TEXT_FIELD = "text"
_TEXT_RESOURCE = "text_resource"
#: Node fields a record keeps in its own columns.
_IN_RECORD: set[str] = {"id_", "embedding", "metadata", _TEXT_FIELD}
_KEYWORD_MODES = (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE)
_DEFAULT_MMR_PREFETCH_FACTOR = 4
#: Nodes per store write in ``add``: LlamaIndex's own insert batch, so an index
#: build writes each of its batches in one go.
DEFAULT_ADD_BATCH_SIZE = 2048
_log = get_logger("llama_index")


def node_to_record(node: BaseNode) -> Record:
    """The record a node is stored as (see the module docstring)."""
    # The fields the record holds itself are left out of the dump, not dropped after
    # it: serialising the embedding in JSON mode, and the id's default factory that
    # ``exclude_defaults`` calls to compare, were most of an ingest's adapter cost.
    data = node.model_dump(mode="json", exclude_defaults=True, exclude=_IN_RECORD)
    data.pop("class_name", None)
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    text_in: str | None = None
    if isinstance(node, Node):
        resource = data.get(_TEXT_RESOURCE)
        if isinstance(resource, dict) and resource.get("text") is not None:
            resource.pop("text")
            text_in = _TEXT_RESOURCE
    elif isinstance(node, TextNode):
        text_in = _TEXT_FIELD
    node_type = node.get_type()
    rest = {
        "type": getattr(node_type, "value", node_type),
        "class": node.class_name(),
        "text_in": text_in,
        "data": data,
    }
    metadata = dict(node.metadata)
    metadata[NODE_KEY] = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
    if node.ref_doc_id is not None:
        metadata[REF_DOC_KEY] = node.ref_doc_id
    else:
        metadata.pop(REF_DOC_KEY, None)
    return Record(node.node_id, text, node.embedding, metadata)


def record_to_node(record: Record) -> BaseNode:
    """The node a record stands for; a plain ``TextNode`` when it has no node string."""
    metadata = user_metadata(record.metadata)
    raw = record.metadata.get(NODE_KEY)
    if not isinstance(raw, str):
        return TextNode(id_=record.id, text=record.text, metadata=metadata, embedding=record.vector)
    rest = json.loads(raw)
    data: dict[str, Any] = rest["data"]
    data.update(id_=record.id, metadata=metadata, embedding=record.vector)
    data["class_name"] = rest.get("class")
    if rest.get("text_in") == _TEXT_FIELD:
        data[_TEXT_FIELD] = record.text
    elif rest.get("text_in") == _TEXT_RESOURCE:
        data[_TEXT_RESOURCE] = {**(data.get(_TEXT_RESOURCE) or {}), "text": record.text}
    return json_to_doc({TYPE_KEY: rest["type"], DATA_KEY: data})


def _result(hits: Sequence[SearchResult]) -> VectorStoreQueryResult:
    return VectorStoreQueryResult(
        nodes=[record_to_node(h.record) for h in hits],
        similarities=[h.score for h in hits],
        ids=[h.record.id for h in hits],
    )


class BrunoVectorStore(StoreOwner, BasePydanticVectorStore):
    """LlamaIndex vector store backed by any ``Store`` (SQLite, PostgreSQL, Redis, ...).

    Every method has a native async twin that awaits the store's async methods.
    Scores (``similarities``) follow the one score rule: in [0, 1], higher is closer.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL
            (``"sqlite:///memory.db"``) or a driver client; see ``open_store``.
        collection: The vector collection nodes are written to.
        metric: Distance metric of the collection when it is created
            (default: the store's default, cosine).
        embedding_model: Name of the embedding model the nodes were embedded
            with. LlamaIndex hands over nodes already embedded, so the store
            cannot know it; when given, it is recorded on the collection and a
            later write or query with another model raises
            ``CollectionMismatchError`` instead of mixing models.
        batch_size: Nodes per store write in :meth:`add` (default 2048, LlamaIndex's
            own insert batch size).
        show_progress: Draw a progress bar (tqdm, on stderr) in :meth:`add`, also
            when an index or an ``IngestionPipeline`` calls it; each ``add`` call
            may override it with ``show_progress=``.

    Example:
        >>> from llama_index.core import StorageContext, VectorStoreIndex
        >>> vector_store = BrunoVectorStore("sqlite:///memory.db", collection="docs")
        >>> ctx = StorageContext.from_defaults(vector_store=vector_store)
        >>> index = VectorStoreIndex.from_documents(documents, storage_context=ctx)
    """

    stores_text: bool = True
    flat_metadata: bool = True
    collection: str = "llama_index"
    tenant: str | None = None
    metric: str | None = None
    embedding_model: str | None = None
    batch_size: int = DEFAULT_ADD_BATCH_SIZE
    show_progress: bool = False

    _store: Store = PrivateAttr()
    _owns_store: bool = PrivateAttr(default=False)

    def __init__(
        self,
        store: Store | str | Any,
        *,
        collection: str = "llama_index",
        metric: str | None = None,
        embedding_model: str | None = None,
        batch_size: int = DEFAULT_ADD_BATCH_SIZE,
        show_progress: bool = False,
        tenant: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_name(collection)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        opened = open_store(store)
        fields: dict[str, Any] = {
            "stores_text": True,
            "flat_metadata": not opened.capabilities.nested_metadata,
            "collection": collection,
            "metric": metric,
            "embedding_model": embedding_model,
            "batch_size": batch_size,
            "show_progress": show_progress,
            "tenant": tenant,
        }
        super().__init__(**fields, **kwargs)
        self._attach_store(store, opened, tenant)

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing this component."""
        return "BrunoVectorStore"

    @property
    def client(self) -> Store:
        """The underlying :class:`~bruno_memory_integrations.Store`."""
        return self._store

    # ------------------------------------------------------------------ writes
    def _batches(self, nodes: Sequence[BaseNode]) -> list[list[Record]]:
        records = [node_to_record(n) for n in nodes]
        size = self.batch_size
        return [records[i : i + size] for i in range(0, len(records), size)]

    def _bar(self, total: int, kwargs: dict[str, Any]) -> Any:
        enabled = kwargs.get("show_progress", self.show_progress)
        return progress_bar(total, f"adding to {self.collection}", enabled=enabled, unit="node")

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert embedded nodes, one write per ``batch_size`` nodes.

        A node with an existing id replaces it.

        Args:
            nodes: Nodes with their embeddings.
            **kwargs: ``show_progress=True`` / ``False`` overrides the store's
                setting for this call; LlamaIndex's other insert options are ignored.

        Returns:
            The node ids, one per node given.
        """
        with self._bar(len(nodes), kwargs) as bar:
            for batch in self._batches(nodes):
                with log_slow(_log, "upsert", collection=self.collection, records=len(batch)):
                    self._store.upsert(
                        self.collection, batch,
                        embedding_model=self.embedding_model, metric=self.metric,
                    )
                bar.update(len(batch))
        return [n.node_id for n in nodes]

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Async :meth:`add`."""
        with self._bar(len(nodes), kwargs) as bar:
            for batch in self._batches(nodes):
                with log_slow(_log, "upsert", collection=self.collection, records=len(batch)):
                    await self._store.aupsert(
                        self.collection, batch,
                        embedding_model=self.embedding_model, metric=self.metric,
                    )
                bar.update(len(batch))
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node whose source document is ``ref_doc_id``."""
        self._store.delete(self.collection, filter={REF_DOC_KEY: ref_doc_id})

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await self._store.adelete(self.collection, filter={REF_DOC_KEY: ref_doc_id})

    @staticmethod
    def _delete_args(node_ids: list[str] | None, filters: MetadataFilters | None) -> dict[str, Any]:
        if node_ids is None and filters is None:
            raise InvalidInputError(
                "delete_nodes needs node_ids or filters; call clear() to delete every node"
            )
        return to_bruno_filter(filters) if filters is not None else {}

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id, by filter, or the given ids that match the filter.

        Raises:
            InvalidInputError: neither ``node_ids`` nor ``filters`` was given.
            FilterError: a filter cannot be translated exactly.
        """
        spec = self._delete_args(node_ids, filters)
        if node_ids is None:
            self._store.delete(self.collection, filter=spec)
            return
        if spec:
            found = self._store.get(self.collection, node_ids, include_vectors=False)
            node_ids = [r.id for r in found if matches(spec, r.metadata)]
        self._store.delete(self.collection, node_ids)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async :meth:`delete_nodes`."""
        spec = self._delete_args(node_ids, filters)
        if node_ids is None:
            await self._store.adelete(self.collection, filter=spec)
            return
        if spec:
            found = await self._store.aget(self.collection, node_ids, include_vectors=False)
            node_ids = [r.id for r in found if matches(spec, r.metadata)]
        await self._store.adelete(self.collection, node_ids)

    def clear(self) -> None:
        """Delete the collection with all its nodes (a new embedding model may then be used)."""
        self._store.drop_collection(self.collection)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._store.adrop_collection(self.collection)

    # ------------------------------------------------------------------ reads
    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Nodes (with embeddings) by id and/or filter; every node when both are ``None``.

        Nodes asked for by id come back in the order asked; missing ids are left out.
        """
        spec = to_bruno_filter(filters)
        if node_ids is None:
            records = list(self._store.iter_records(self.collection, filter=spec))
        else:
            found = self._store.get(self.collection, node_ids, include_vectors=True)
            records = [r for r in found if matches(spec, r.metadata)]
        return [record_to_node(r) for r in records]

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        spec = to_bruno_filter(filters)
        if node_ids is None:
            records = [r async for r in self._store.aiter_records(self.collection, filter=spec)]
        else:
            found = await self._store.aget(self.collection, node_ids, include_vectors=True)
            records = [r for r in found if matches(spec, r.metadata)]
        return [record_to_node(r) for r in records]

    # ------------------------------------------------------------------ queries
    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Run a vector, keyword, hybrid or MMR query.

        Modes: ``DEFAULT`` (vector search), ``TEXT_SEARCH`` and ``SPARSE``
        (keyword search), ``HYBRID`` (vector + keyword fused by reciprocal rank
        fusion) and ``MMR`` (``mmr_threshold`` from the query or from
        ``vector_store_kwargs``). ``filters``, ``doc_ids`` and ``node_ids`` restrict
        every mode (``node_ids`` only ``DEFAULT`` and ``MMR``).

        Raises:
            NotSupportedError: the backend lacks keyword or hybrid search.
            FilterError: a filter cannot be translated exactly.
            InvalidInputError: the query lacks what its mode needs, sets ``alpha``
                for hybrid search, or uses another mode (SVM, regressions,
                semantic hybrid).
        """
        plan = _Plan(query, kwargs)
        store, c = self._store, self.collection
        if plan.mode in _KEYWORD_MODES:
            return _result(store.keyword_search(c, plan.query_str, k=plan.k, filter=plan.spec))
        if plan.mode == VectorStoreQueryMode.HYBRID:
            return _result(
                store.hybrid_search(
                    c, plan.query_str, plan.vector, k=plan.k, filter=plan.spec, fetch_k=plan.fetch_k
                )
            )
        hits = store.search(
            c,
            plan.vector,
            k=plan.fetch_k or plan.k,
            filter=plan.spec,
            include_vectors=plan.mode == VectorStoreQueryMode.MMR,
            embedding_model=self.embedding_model,
            ids=plan.node_ids,
        )
        return plan.finish(hits)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`; awaits the store's async methods."""
        plan = _Plan(query, kwargs)
        store, c = self._store, self.collection
        if plan.mode in _KEYWORD_MODES:
            hits = await store.akeyword_search(c, plan.query_str, k=plan.k, filter=plan.spec)
            return _result(hits)
        if plan.mode == VectorStoreQueryMode.HYBRID:
            hits = await store.ahybrid_search(
                c, plan.query_str, plan.vector, k=plan.k, filter=plan.spec, fetch_k=plan.fetch_k
            )
            return _result(hits)
        hits = await store.asearch(
            c,
            plan.vector,
            k=plan.fetch_k or plan.k,
            filter=plan.spec,
            include_vectors=plan.mode == VectorStoreQueryMode.MMR,
            embedding_model=self.embedding_model,
            ids=plan.node_ids,
        )
        return plan.finish(hits)


class _Plan:
    """What a ``VectorStoreQuery`` asks of the store, checked once for sync and async."""

    _SUPPORTED = (
        VectorStoreQueryMode.DEFAULT,
        VectorStoreQueryMode.MMR,
        VectorStoreQueryMode.HYBRID,
        *_KEYWORD_MODES,
    )

    def __init__(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> None:
        mode = VectorStoreQueryMode(query.mode or VectorStoreQueryMode.DEFAULT)
        if mode not in self._SUPPORTED:
            raise InvalidInputError(
                f"BrunoVectorStore does not support query mode {mode.value!r}; use "
                f"{', '.join(m.value for m in self._SUPPORTED)}"
            )
        self.mode = mode
        k = query.similarity_top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"similarity_top_k must be a positive integer, got {k!r}")
        self.k: int = k
        self.fetch_k: int | None = None
        self.query_str: str = query.query_str or ""
        self.vector: list[float] = list(query.query_embedding or [])
        self.mmr_threshold: float | None = None
        uses_text = mode in _KEYWORD_MODES or mode == VectorStoreQueryMode.HYBRID
        if uses_text and not isinstance(query.query_str, str):
            raise InvalidInputError(f"a {mode.value} query needs query_str")
        if mode not in _KEYWORD_MODES and query.query_embedding is None:
            raise InvalidInputError(f"a {mode.value} query needs query_embedding")
        if mode == VectorStoreQueryMode.HYBRID:
            if query.alpha is not None:
                raise InvalidInputError(
                    "alpha is not supported: hybrid search fuses the vector and keyword "
                    "rankings by reciprocal rank fusion, which has no weight; leave alpha unset"
                )
            self.k = query.hybrid_top_k or k
            if query.hybrid_top_k is not None or query.sparse_top_k is not None:
                self.fetch_k = max(k, query.sparse_top_k or 0, self.k)
        if mode == VectorStoreQueryMode.MMR:
            threshold = query.mmr_threshold
            if threshold is None:
                threshold = kwargs.get("mmr_threshold")
            if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
                raise InvalidInputError(f"mmr_threshold must be in [0, 1], got {threshold!r}")
            self.mmr_threshold = threshold
            prefetch_k = kwargs.get("mmr_prefetch_k")
            factor = kwargs.get("mmr_prefetch_factor", _DEFAULT_MMR_PREFETCH_FACTOR)
            self.fetch_k = int(prefetch_k) if prefetch_k else max(int(k * factor), k)
        spec = to_bruno_filter(query.filters)
        # An empty doc_ids / node_ids list means "no restriction": LlamaIndex's retriever
        # passes the index's node ids, which is [] when the vector store keeps the text.
        if query.doc_ids:
            doc_filter = {REF_DOC_KEY: {"$in": list(query.doc_ids)}}
            spec = {"$and": [spec, doc_filter]} if spec else doc_filter
        self.spec: dict[str, Any] = spec
        self.node_ids: list[str] | None = None
        if query.node_ids:
            if mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
                raise InvalidInputError(
                    f"node_ids cannot restrict a {mode.value} query; use filters or doc_ids"
                )
            self.node_ids = list(query.node_ids)

    def finish(self, hits: list[SearchResult]) -> VectorStoreQueryResult:
        """The query result, after maximal marginal relevance in MMR mode."""
        if self.mode != VectorStoreQueryMode.MMR or not hits:
            return _result(hits[: self.k])
        _, chosen = get_top_k_mmr_embeddings(
            self.vector,
            [h.record.vector or [] for h in hits],
            similarity_top_k=self.k,
            embedding_ids=list(range(len(hits))),
            mmr_threshold=self.mmr_threshold,
        )
        return _result([hits[i] for i in chosen])
