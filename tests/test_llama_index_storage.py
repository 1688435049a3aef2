"""BrunoKVStore, BrunoDocumentStore, BrunoIndexStore and a whole StorageContext, on all backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason="llama-index-core is not installed")

from llama_index.core import (
    Settings,
    StorageContext,
    SummaryIndex,
    VectorStoreIndex,
    load_index_from_storage,
)
from llama_index.core.data_structs.data_structs import IndexDict
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import Document, NodeRelationship, RelatedNodeInfo, TextNode

from bruno_memory_integrations import InvalidInputError, Store, StoreClosedError
from bruno_memory_integrations.llama_index import (
    BrunoDocumentStore,
    BrunoIndexStore,
    BrunoKVStore,
    BrunoVectorStore,
)

try:
    from stores import SYNC_METHODS, forbid_sync, require_capability, url_for
except ImportError:  # tests/ imported as a package
    from tests.stores import SYNC_METHODS, forbid_sync, require_capability, url_for

DIM = 8


def count_calls(store: Store, monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Record the batch size of every call to ``store.<name>(collection, items)``."""
    sizes: list[int] = []
    real = getattr(store, name)

    def spy(collection: str, items: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(list(items)))
        return real(collection, items, *args, **kwargs)

    monkeypatch.setattr(store, name, spy)
    return sizes


@pytest.fixture
def store(store: Store) -> Store:
    """The shared ``store`` fixture, skipping backends without key-value support."""
    return require_capability(store, "kv")


@pytest.fixture
def ns() -> str:
    return f"li_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kv(store: Store, ns: str) -> BrunoKVStore:
    return BrunoKVStore(store, namespace=ns)


# ================================================================== key-value
def test_kv_put_get_delete(kv: BrunoKVStore, store: Store, ns: str) -> None:
    value = {"a": 1, "nested": {"list": [1, "two", None, 3.5]}, "text": 'ünï "q" it\'s'}
    kv.put("k1", value)
    assert kv.get("k1") == value
    assert kv.get("missing") is None
    assert store.kv_mget(f"{ns}/data", ["k1"])[0] is not None, "collection is namespace/collection"
    kv.put("k1", {"a": 2})
    assert kv.get("k1") == {"a": 2}
    assert kv.delete("k1") is True
    assert kv.delete("k1") is False
    assert kv.get("k1") is None


def test_kv_collections_are_separate(kv: BrunoKVStore, store: Store, ns: str) -> None:
    kv.put("k", {"v": "data"})
    kv.put("k", {"v": "docs"}, collection="docstore/data")
    assert kv.get("k") == {"v": "data"}
    assert kv.get("k", collection="docstore/data") == {"v": "docs"}
    other = BrunoKVStore(store, namespace=ns + "_other")
    assert other.get("k") is None
    assert other.get_all() == {}


def test_kv_put_all_batches(
    kv: BrunoKVStore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_calls(store, monkeypatch, "kv_mset")
    pairs = [(f"k{i:03d}", {"i": i}) for i in range(250)]
    kv.put_all(pairs, collection="bulk")
    assert sizes == [100, 100, 50]
    sizes.clear()
    kv.put_all(pairs[:10], collection="bulk", batch_size=4)
    assert sizes == [4, 4, 2]
    assert kv.get_all(collection="bulk") == dict(pairs)
    with pytest.raises(InvalidInputError):
        kv.put_all(pairs, collection="bulk", batch_size=0)


def test_kv_rejects_values_that_are_not_json_dicts(kv: BrunoKVStore) -> None:
    with pytest.raises(InvalidInputError):
        kv.put("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        kv.put("k", {"obj": object()})
    assert kv.get("k") is None


async def test_kv_async_is_native(
    kv: BrunoKVStore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_sync(store, monkeypatch)
    await kv.aput("a", {"x": 1})
    await kv.aput_all([(f"b{i}", {"i": i}) for i in range(5)], batch_size=2)
    assert await kv.aget("a") == {"x": 1}
    assert await kv.aget("zzz") is None
    assert await kv.aget_all() == {"a": {"x": 1}, **{f"b{i}": {"i": i} for i in range(5)}}
    assert await kv.adelete("a") is True
    assert await kv.adelete("a") is False
    assert sorted(await kv.aget_all()) == [f"b{i}" for i in range(5)]


# ================================================================== document store
def _doc_nodes() -> list[TextNode]:
    src = RelatedNodeInfo(node_id="doc-1")
    return [
        TextNode(
            id_=f"n{i}",
            text=f"chunk {i}",
            metadata={"i": i},
            relationships={NodeRelationship.SOURCE: src},
        )
        for i in range(5)
    ]


def test_docstore_batches_writes(store: Store, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docstore = BrunoDocumentStore(store, kv_namespace=ns)
    assert docstore._batch_size == 100
    sizes = count_calls(store, monkeypatch, "kv_mset")
    nodes = [TextNode(id_=f"n{i}", text=f"t{i}") for i in range(150)]
    docstore.add_documents(nodes)
    assert max(sizes) == 100 and len(sizes) <= 4, sizes  # not one write per node


def test_docstore_documents_and_ref_docs(store: Store, ns: str) -> None:
    docstore = BrunoDocumentStore(store, kv_namespace=ns)
    nodes = _doc_nodes()
    docstore.add_documents(nodes)
    assert docstore.document_exists("n2")
    got = docstore.get_document("n2")
    assert got == nodes[2]
    assert [n.node_id for n in docstore.get_nodes(["n4", "n0"])] == ["n4", "n0"]
    info = docstore.get_ref_doc_info("doc-1")
    assert info is not None and sorted(info.node_ids) == [f"n{i}" for i in range(5)]
    assert sorted(docstore.docs) == [f"n{i}" for i in range(5)]
    assert docstore.get_document_hash("n1") == nodes[1].hash
    docstore.delete_document("n0")
    assert not docstore.document_exists("n0")
    assert docstore.get_document("n0", raise_error=False) is None
    docstore.delete_ref_doc("doc-1")
    assert docstore.get_ref_doc_info("doc-1") is None
    assert docstore.docs == {}


def test_docstore_namespaces_are_separate(store: Store, ns: str) -> None:
    a = BrunoDocumentStore(store, namespace="a", kv_namespace=ns)
    b = BrunoDocumentStore(store, namespace="b", kv_namespace=ns)
    a.add_documents([TextNode(id_="x", text="in a")])
    assert a.document_exists("x")
    assert not b.document_exists("x")


async def test_docstore_async_is_native(
    store: Store, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docstore = BrunoDocumentStore(store, kv_namespace=ns)
    forbid_sync(store, monkeypatch)
    nodes = _doc_nodes()
    await docstore.async_add_documents(nodes)
    assert await docstore.aget_document("n3") == nodes[3]
    assert await docstore.adocument_exists("n1")
    info = await docstore.aget_ref_doc_info("doc-1")
    assert info is not None and len(info.node_ids) == 5
    await docstore.adelete_ref_doc("doc-1")
    assert not await docstore.adocument_exists("n1")


def test_index_store(store: Store, ns: str, make_store: Callable[[], Store]) -> None:
    index_store = BrunoIndexStore(store, kv_namespace=ns)
    struct = IndexDict(index_id="my-index")
    struct.add_node(TextNode(id_="n1", text="x"), text_id="n1")
    index_store.add_index_struct(struct)
    again = BrunoIndexStore(make_store(), kv_namespace=ns)
    got = again.get_index_struct("my-index")
    assert isinstance(got, IndexDict)
    assert got.nodes_dict == {"n1": "n1"}
    assert [s.index_id for s in again.index_structs()] == ["my-index"]
    again.delete_index_struct("my-index")
    assert index_store.get_index_struct("my-index") is None
    again.kvstore.close()


@pytest.mark.parametrize("cls", [BrunoDocumentStore, BrunoIndexStore])
async def test_document_and_index_stores_close_what_they_opened(
    store: Store,
    store_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    ns: str,
    cls: type[BrunoDocumentStore | BrunoIndexStore],
) -> None:
    # A Store passed in belongs to the caller: close() and aclose() leave it open.
    borrowed = cls(store, kv_namespace=ns)
    assert borrowed.store is store
    borrowed.close()
    await borrowed.aclose()
    assert not store.closed
    store.kv_mset("still-open", {"k": b"v"})
    # From a URL the adapter opened the store itself, so close() / aclose() close it.
    url = url_for(store_kind, request, tmp_path)
    for closing in ("close", "aclose"):
        owned = cls(url, kv_namespace=ns)
        owned.kvstore.put("key", {"a": 1})
        if closing == "close":
            owned.close()
        else:
            await owned.aclose()
        assert owned.store.closed
        with pytest.raises(StoreClosedError):
            owned.kvstore.get("key")


# ================================================================== whole storage context
def _context(store: Store, ns: str) -> StorageContext:
    return StorageContext.from_defaults(
        vector_store=BrunoVectorStore(store, collection=f"{ns}_vectors"),
        docstore=BrunoDocumentStore(store, kv_namespace=ns),
        index_store=BrunoIndexStore(store, kv_namespace=ns),
    )


def _documents() -> list[Document]:
    return [
        Document(
            id_="apples",
            text="Apples are red or green fruit that grow on trees.",
            metadata={"topic": "fruit"},
        ),
        Document(
            id_="rust", text="Rust is a systems programming language.", metadata={"topic": "code"}
        ),
        Document(
            id_="tea", text="Tea is brewed from the leaves of a shrub.", metadata={"topic": "drink"}
        ),
    ]


@pytest.mark.parametrize("store_nodes", [False, True], ids=["text-in-vectors", "nodes-in-docstore"])
def test_index_survives_reopening(
    make_store: Callable[[], Store], ns: str, store_nodes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settings, "_llm", MockLLM())
    embed = MockEmbedding(embed_dim=DIM)
    first = make_store()
    require_capability(first, "kv")
    index = VectorStoreIndex.from_documents(
        _documents(),
        storage_context=_context(first, ns),
        embed_model=embed,
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0)],
        store_nodes_override=store_nodes,
    )
    index.set_index_id("main")
    before = index.as_retriever(similarity_top_k=10).retrieve("fruit")
    assert sorted(h.node.ref_doc_id or "" for h in before) == ["apples", "rust", "tea"]
    first.close()

    second = make_store()  # a new Store object over the same database
    try:
        loaded = load_index_from_storage(_context(second, ns), index_id="main", embed_model=embed)
        assert isinstance(loaded, VectorStoreIndex)
        after = loaded.as_retriever(similarity_top_k=10).retrieve("fruit")
        assert sorted(h.node.node_id for h in after) == sorted(h.node.node_id for h in before)
        assert {h.node.node_id: h.node.get_content() for h in after} == {
            h.node.node_id: h.node.get_content() for h in before
        }
        for h in after:
            assert h.score is not None and 0.0 <= h.score <= 1.0
        if store_nodes:  # the nodes were also written to our docstore, in the same database
            assert {h.node.node_id for h in before} <= set(loaded.docstore.docs)
            assert loaded.docstore.get_ref_doc_info("apples") is not None
        loaded.delete_ref_doc("rust")
        rest = loaded.as_retriever(similarity_top_k=10).retrieve("fruit")
        assert sorted(h.node.ref_doc_id or "" for h in rest) == ["apples", "tea"]
    finally:
        second.close()


async def test_async_index_build_and_retrieve(
    make_store: Callable[[], Store], ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settings, "_llm", MockLLM())
    store = make_store()
    require_capability(store, "kv")
    embed = MockEmbedding(embed_dim=DIM)
    ctx = _context(store, ns)
    index = VectorStoreIndex(nodes=[], storage_context=ctx, embed_model=embed, use_async=True)
    # LlamaIndex's ainsert_nodes saves the index struct with the sync KVIndexStore API
    # (it has no async one), so kv_mset stays allowed here.
    forbid_sync(store, monkeypatch, [n for n in SYNC_METHODS if n != "kv_mset"])
    nodes = [TextNode(id_=f"n{i}", text=f"node {i}") for i in range(4)]
    await ctx.docstore.async_add_documents(nodes)
    await index.ainsert_nodes(nodes)
    hits = await index.as_retriever(similarity_top_k=10).aretrieve("node")
    assert sorted(h.node.node_id for h in hits) == ["n0", "n1", "n2", "n3"]
    monkeypatch.undo()
    store.close()


def test_ingestion_pipeline_deduplicates_with_the_docstore(store: Store, ns: str) -> None:
    embed = MockEmbedding(embed_dim=DIM)
    vector_store = BrunoVectorStore(store, collection=f"{ns}_pipe")
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed],
        docstore=BrunoDocumentStore(store, kv_namespace=ns),
        vector_store=vector_store,
        docstore_strategy=DocstoreStrategy.UPSERTS,
    )
    first = pipeline.run(documents=_documents())
    assert len(first) >= 3
    again = pipeline.run(documents=_documents())
    assert again == []  # unchanged documents are skipped, using hashes from our docstore
    assert store.count(f"{ns}_pipe") == len(first)


def test_summary_index_keeps_nodes_in_our_docstore(
    make_store: Callable[[], Store], ns: str
) -> None:
    first = make_store()
    require_capability(first, "kv")
    ctx = StorageContext.from_defaults(
        docstore=BrunoDocumentStore(first, kv_namespace=ns),
        index_store=BrunoIndexStore(first, kv_namespace=ns),
    )
    SummaryIndex.from_documents(_documents(), storage_context=ctx).set_index_id("summary")
    first.close()
    second = make_store()
    try:
        ctx2 = StorageContext.from_defaults(
            docstore=BrunoDocumentStore(second, kv_namespace=ns),
            index_store=BrunoIndexStore(second, kv_namespace=ns),
        )
        loaded = load_index_from_storage(ctx2, index_id="summary")
        texts = [n.node.get_content() for n in loaded.as_retriever().retrieve("x")]
        assert sorted(texts) == sorted(d.text for d in _documents())
    finally:
        second.close()
