"""BrunoVectorStore: LangChain's standard suite plus our own behaviour, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from bruno_memory_integrations import (
    CollectionMismatchError,
    DimensionMismatchError,
    InvalidInputError,
    NotSupportedError,
    Record,
    Store,
)
from bruno_memory_integrations.adapters_common import NODE_KEY, REF_DOC_KEY
from bruno_memory_integrations.backends.memory import MemoryBackend
from bruno_memory_integrations.langchain import BrunoVectorStore

try:
    from stores import forbid_sync, require_capability
except ImportError:  # tests/ imported as a package
    from tests.stores import forbid_sync, require_capability


def _fresh(prefix: str = "lc") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class TableEmbeddings(Embeddings):
    """Fixed vectors per text, so expected neighbours and scores are known exactly."""

    def __init__(
        self,
        table: dict[str, Sequence[float]],
        model_name: str = "table-v1",
        forbid_sync: bool = False,
    ) -> None:
        self.table = table
        self.model_name = model_name
        self.forbid_sync = forbid_sync
        self.calls: list[tuple[str, int]] = []

    def _vectors(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(self.table[t]) for t in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        assert not self.forbid_sync, "sync embed_documents called from async code"
        self.calls.append(("sync", len(texts)))
        return self._vectors(texts)

    def embed_query(self, text: str) -> list[float]:
        assert not self.forbid_sync, "sync embed_query called from async code"
        return self._vectors([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("async", len(texts)))
        return self._vectors(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self._vectors([text])[0]


FRUIT = {
    "apple": [1.0, 0.0, 0.0],
    "banana": [0.0, 1.0, 0.0],
    "cherry": [0.0, 0.0, 1.0],
    "apple pie": [0.6, 0.8, 0.0],
    "a1": [1.0, 0.1, 0.0],
    "a2": [1.0, 0.11, 0.0],
    "b": [0.6, 0.8, 0.0],
}
FRUIT_META = {
    "apple": {"kind": "fruit", "n": 1, "color": "red"},
    "banana": {"kind": "fruit", "n": 2, "color": "yellow"},
    "cherry": {"kind": "fruit", "n": 3, "color": "red"},
    "apple pie": {"kind": "dessert", "n": 4, "color": "brown"},
}


def _fruit_store(store: Store, **kw: Any) -> BrunoVectorStore:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh(), **kw)
    names = list(FRUIT_META)
    vs.add_texts(names, [FRUIT_META[n] for n in names], ids=names)
    return vs


def _async_only(
    vs: BrunoVectorStore, monkeypatch: pytest.MonkeyPatch, table: dict[str, Sequence[float]] = FRUIT
) -> BrunoVectorStore:
    """A vector store on ``vs``'s collection whose sync Store and embedding calls fail."""
    forbid_sync(vs.store, monkeypatch)
    return BrunoVectorStore(
        TableEmbeddings(table, forbid_sync=True), store=vs.store, collection=vs.collection
    )


# --------------------------------------------------------------------------- standard suite
class TestLangChainStandardSuite(VectorStoreIntegrationTests):
    """langchain-tests' VectorStoreIntegrationTests, on every backend."""

    @pytest.fixture
    def vectorstore(self, open_new_store: Callable[[], Store]) -> Iterator[BrunoVectorStore]:
        store = open_new_store()
        vs = BrunoVectorStore(self.get_embeddings(), store=store, collection=_fresh("std"))
        yield vs
        store.drop_collection(vs.collection)


# --------------------------------------------------------------------------- writes
def test_add_texts_embeds_and_writes_in_batches(store: Store) -> None:
    emb = TableEmbeddings(FRUIT)
    writes: list[int] = []

    class CountingStore(Store):
        def upsert(self, collection: str, records: Sequence[Record], **kw: Any) -> list[str]:
            writes.append(len(records))
            return super().upsert(collection, records, **kw)

    vs = BrunoVectorStore(emb, store=CountingStore(store.backend), collection=_fresh())
    names = ["apple", "banana", "cherry", "apple pie", "a1"]
    ids = vs.add_texts(names, batch_size=2)
    assert emb.calls == [("sync", 2), ("sync", 2), ("sync", 1)]
    assert writes == [2, 2, 1]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert [d.page_content for d in vs.get_by_ids(ids)] == names


async def test_aadd_texts_embeds_and_writes_in_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_sync(store, monkeypatch)
    emb = TableEmbeddings(FRUIT, forbid_sync=True)
    vs = BrunoVectorStore(emb, store=store, collection=_fresh())
    ids = await vs.aadd_texts(["apple", "banana", "cherry"], batch_size=2, ids=["x", "y", "z"])
    assert ids == ["x", "y", "z"]
    assert emb.calls == [("async", 2), ("async", 1)]
    docs = await vs.aget_by_ids(["z", "missing", "x"])
    assert [(d.id, d.page_content) for d in docs] == [("z", "cherry"), ("x", "apple")]


def test_ids_come_from_argument_then_document_then_uuid(store: Store) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    docs = [
        Document(page_content="apple", metadata={"k": 1}, id="doc-apple"),
        Document(page_content="banana", metadata={"k": 2}),
    ]
    ids = vs.add_documents(docs)
    assert ids[0] == "doc-apple" and uuid.UUID(ids[1]).version == 4
    assert docs[1].id is None  # the caller's Document is not modified
    assert vs.add_documents(docs, ids=["one", "two"]) == ["one", "two"]
    got = vs.get_by_ids(["two", "doc-apple", "one"])
    assert [(d.id, d.page_content, d.metadata) for d in got] == [
        ("two", "banana", {"k": 2}),
        ("doc-apple", "apple", {"k": 1}),
        ("one", "apple", {"k": 1}),
    ]


def test_re_adding_an_id_replaces_it(store: Store) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    vs.add_texts(["apple"], [{"v": 1}], ids=["same"])
    vs.add_texts(["banana"], [{"v": 2}], ids=["same"])
    assert store.count(vs.collection) == 1
    assert vs.get_by_ids(["same"]) == [
        Document(page_content="banana", metadata={"v": 2}, id="same")
    ]


def test_ids_and_metadata_with_quotes_are_stored_exactly(store: Store) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    tricky = 'it\'s "quoted"; DROP TABLE x; --'
    vs.add_texts(["apple"], [{"note": tricky}], ids=[tricky])
    assert vs.get_by_ids([tricky]) == [
        Document(page_content="apple", metadata={"note": tricky}, id=tricky)
    ]
    assert [d.id for d in vs.similarity_search("apple", k=1, filter={"note": tricky})] == [tricky]


def test_length_mismatch_is_refused_before_embedding(store: Store) -> None:
    emb = TableEmbeddings(FRUIT)
    vs = BrunoVectorStore(emb, store=store, collection=_fresh())
    with pytest.raises(ValueError, match="metadatas"):
        vs.add_texts(["apple", "banana"], [{}])
    with pytest.raises(ValueError, match="ids"):
        vs.add_texts(["apple", "banana"], ids=["only-one"])
    with pytest.raises(ValueError, match="batch_size"):
        vs.add_texts(["apple"], batch_size=0)
    assert emb.calls == []


def test_unknown_options_are_refused_not_ignored(store: Store) -> None:
    vs = _fruit_store(store)
    with pytest.raises(TypeError, match="where"):
        vs.similarity_search("apple", k=2, where={"kind": "fruit"})
    with pytest.raises(TypeError, match="flter"):
        vs.max_marginal_relevance_search("apple", flter={"kind": "fruit"})
    with pytest.raises(TypeError, match="collection_name"):
        BrunoVectorStore.from_texts(
            ["apple"], TableEmbeddings(FRUIT), store=store, collection_name="x"
        )


def test_reserved_metadata_is_hidden_but_filterable(store: Store) -> None:
    """Records written by the LlamaIndex adapter carry reserved keys the user never sees."""
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    store.upsert(
        vs.collection,
        [
            Record(
                "n1", "apple", FRUIT["apple"], {"lang": "en", REF_DOC_KEY: "doc-1", NODE_KEY: "{}"}
            )
        ],
        embedding_model="table-v1",
    )
    expected = Document(page_content="apple", metadata={"lang": "en"}, id="n1")
    assert vs.get_by_ids(["n1"]) == [expected]
    assert vs.similarity_search("apple", k=1) == [expected]
    assert vs.similarity_search("apple", k=1, filter={REF_DOC_KEY: "doc-2"}) == []
    vs.delete(filter={REF_DOC_KEY: "doc-1"})
    assert vs.get_by_ids(["n1"]) == []


# --------------------------------------------------------------------------- delete
def test_delete_by_ids_by_filter_and_all(store: Store) -> None:
    vs = _fruit_store(store)
    assert vs.delete(["apple", "not-there"]) is True
    assert sorted(d.id for d in vs.get_by_ids(list(FRUIT_META))) == [
        "apple pie",
        "banana",
        "cherry",
    ]
    assert vs.delete(filter={"color": {"$in": ["red", "brown"]}}) is True
    assert [d.id for d in vs.get_by_ids(list(FRUIT_META))] == ["banana"]
    vs.delete(filter={})
    assert store.count(vs.collection) == 0


def test_delete_needs_ids_or_filter(store: Store) -> None:
    vs = _fruit_store(store)
    with pytest.raises(InvalidInputError, match="filter=\\{\\}"):
        vs.delete()
    with pytest.raises(InvalidInputError):
        vs.delete(["apple"], filter={"kind": "fruit"})
    assert store.count(vs.collection) == 4


async def test_adelete_by_filter_is_native(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _fruit_store(store)
    avs = _async_only(vs, monkeypatch)
    assert await avs.adelete(filter={"kind": "dessert"}) is True
    assert await avs.adelete(["banana"]) is True
    assert sorted(d.id for d in await avs.aget_by_ids(list(FRUIT_META))) == ["apple", "cherry"]


# --------------------------------------------------------------------------- search
def test_scores_follow_the_one_score_rule(store: Store) -> None:
    vs = _fruit_store(store)
    hits = vs.similarity_search_with_score("apple", k=4)
    assert [d.id for d, _ in hits] == ["apple", "apple pie", "banana", "cherry"]
    # cosine: score = 1 - (1 - cos) / 2
    assert [s for _, s in hits] == pytest.approx([1.0, 0.8, 0.5, 0.5], abs=1e-6)
    rel = vs.similarity_search_with_relevance_scores("apple", k=4)
    assert [(d.id, s) for d, s in rel] == [(d.id, s) for d, s in hits]
    assert hits[0][0] == Document(page_content="apple", metadata=FRUIT_META["apple"], id="apple")


def test_euclidean_metric_is_recorded_and_scored(store: Store) -> None:
    vs = _fruit_store(store, metric="euclidean")
    info = store.collection_info(vs.collection)
    assert info is not None and info.metric == "euclidean" and info.dimension == 3
    hits = vs.similarity_search_with_score("apple", k=2)
    assert [d.id for d, _ in hits] == ["apple", "apple pie"]
    # euclidean: score = 1 / (1 + ||a - b||); ||(1,0,0) - (.6,.8,0)|| = sqrt(.8)
    assert hits[1][1] == pytest.approx(1 / (1 + 0.8**0.5), abs=1e-6)


def test_filter_and_score_threshold_on_every_search(store: Store) -> None:
    vs = _fruit_store(store)
    red = {"color": "red"}
    assert [d.id for d in vs.similarity_search("banana", k=4, filter=red)] == ["apple", "cherry"]
    assert [d.id for d in vs.similarity_search_by_vector(FRUIT["banana"], k=1, filter=red)] in (
        ["apple"],
        ["cherry"],
    )
    complex_filter = {
        "$or": [{"n": {"$gte": 3}}, {"color": {"$ne": "red"}}],
        "kind": {"$nin": ["x"]},
    }
    assert sorted(d.id for d in vs.similarity_search("apple", k=4, filter=complex_filter)) == [
        "apple pie",
        "banana",
        "cherry",
    ]
    above = vs.similarity_search_with_score("apple", k=4, score_threshold=0.75)
    assert [d.id for d, _ in above] == ["apple", "apple pie"]
    rel = vs.similarity_search_with_relevance_scores("apple", k=4, score_threshold=0.75, filter=red)
    assert [d.id for d, _ in rel] == ["apple"]
    hits = vs.similarity_search_with_score_by_vector(FRUIT["cherry"], k=2, filter={"kind": "fruit"})
    assert hits[0][0].id == "cherry" and hits[0][1] == pytest.approx(1.0)


async def test_async_search_is_native(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _fruit_store(store)
    avs = _async_only(vs, monkeypatch)
    red = {"color": "red"}
    assert [d.id for d in await avs.asimilarity_search("banana", k=4, filter=red)] == [
        "apple",
        "cherry",
    ]
    hits = await avs.asimilarity_search_with_score("apple", k=2)
    assert [(d.id, round(s, 6)) for d, s in hits] == [("apple", 1.0), ("apple pie", 0.8)]
    by_vec = await avs.asimilarity_search_by_vector(FRUIT["cherry"], k=1)
    assert [d.id for d in by_vec] == ["cherry"]
    rel = await avs.asimilarity_search_with_relevance_scores("apple", k=4, score_threshold=0.75)
    assert [d.id for d, _ in rel] == ["apple", "apple pie"]
    scored = await avs.asimilarity_search_with_score_by_vector(FRUIT["apple"], k=1, filter=red)
    assert scored[0][0].id == "apple"


def test_empty_collection_searches_return_nothing(store: Store) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    assert vs.similarity_search("apple") == []
    assert vs.max_marginal_relevance_search("apple") == []
    assert vs.get_by_ids(["a"]) == []


def test_other_embedding_model_is_refused(store: Store) -> None:
    vs = _fruit_store(store)
    info = store.collection_info(vs.collection)
    assert info is not None and info.embedding_model == "table-v1"
    other = BrunoVectorStore(
        TableEmbeddings(FRUIT, model_name="table-v2"), store=store, collection=vs.collection
    )
    with pytest.raises(CollectionMismatchError, match="table-v1"):
        other.similarity_search("apple")
    with pytest.raises(CollectionMismatchError, match="table-v1"):
        other.add_texts(["banana"])
    assert store.count(vs.collection) == 4


def _cached(embeddings: Embeddings) -> Embeddings:
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_core.stores import InMemoryByteStore

    return CacheBackedEmbeddings.from_bytes_store(
        embeddings, InMemoryByteStore(), namespace="cache", key_encoder="blake2b"
    )


def test_wrapped_embeddings_are_recorded_by_their_model(store: Store) -> None:
    """A cache wrapper must not hide the model: two cached models never mix."""
    vs = BrunoVectorStore(_cached(TableEmbeddings(FRUIT)), store=store, collection=_fresh())
    vs.add_texts(["apple", "banana"], ids=["apple", "banana"])
    info = store.collection_info(vs.collection)
    assert info is not None and info.embedding_model == "table-v1"
    other = BrunoVectorStore(
        _cached(TableEmbeddings(FRUIT, model_name="table-v2")),
        store=store,
        collection=vs.collection,
    )
    with pytest.raises(CollectionMismatchError, match="table-v1"):
        other.add_texts(["cherry"])
    with pytest.raises(CollectionMismatchError, match="table-v1"):
        other.similarity_search("apple")
    # The same model with or without the cache is the same model.
    plain = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=vs.collection)
    assert plain.similarity_search("apple", k=1)[0].page_content == "apple"
    assert store.count(vs.collection) == 2


def test_other_dimension_is_refused(store: Store) -> None:
    vs = _fruit_store(store)
    other = BrunoVectorStore(
        TableEmbeddings({"apple": [1.0, 0.0]}), store=store, collection=vs.collection
    )
    with pytest.raises(DimensionMismatchError):
        other.add_texts(["apple"])


# --------------------------------------------------------------------------- MMR
MMR_DOCS = ["a1", "a2", "b"]


def test_mmr_prefers_diverse_results(store: Store) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    vs.add_texts(MMR_DOCS, [{"g": "x"}, {"g": "x"}, {"g": "y"}], ids=MMR_DOCS)
    assert [d.id for d in vs.similarity_search("apple", k=2)] == ["a1", "a2"]
    mmr = vs.max_marginal_relevance_search("apple", k=2, fetch_k=3, lambda_mult=0.25)
    assert [d.id for d in mmr] == ["a1", "b"]
    assert mmr[1].metadata == {"g": "y"}
    only_x = vs.max_marginal_relevance_search(
        "apple", k=2, fetch_k=3, lambda_mult=0.25, filter={"g": "x"}
    )
    assert [d.id for d in only_x] == ["a1", "a2"]
    by_vec = vs.max_marginal_relevance_search_by_vector(FRUIT["apple"], k=2, lambda_mult=0.25)
    assert [d.id for d in by_vec] == ["a1", "b"]


async def test_async_mmr_is_native(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store=store, collection=_fresh())
    vs.add_texts(MMR_DOCS, ids=MMR_DOCS)
    avs = _async_only(vs, monkeypatch)
    mmr = await avs.amax_marginal_relevance_search("apple", k=2, fetch_k=3, lambda_mult=0.25)
    assert [d.id for d in mmr] == ["a1", "b"]
    by_vec = await avs.amax_marginal_relevance_search_by_vector(FRUIT["apple"], k=1)
    assert [d.id for d in by_vec] == ["a1"]


# --------------------------------------------------------------------------- retriever
def test_retriever_search_types_with_filter(store: Store) -> None:
    vs = _fruit_store(store)
    plain = vs.as_retriever(search_kwargs={"k": 2, "filter": {"color": "red"}})
    assert [d.id for d in plain.invoke("banana")] in (["apple", "cherry"], ["cherry", "apple"])
    threshold = vs.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"k": 4, "score_threshold": 0.75, "filter": {"kind": "fruit"}},
    )
    assert [d.id for d in threshold.invoke("apple")] == ["apple"]
    mmr = vs.as_retriever(
        search_type="mmr",
        search_kwargs={
            "k": 2,
            "fetch_k": 4,
            "lambda_mult": 0.25,
            "filter": {"color": {"$ne": "yellow"}},
        },
    )
    assert sorted(d.id for d in mmr.invoke("apple")) == ["apple", "cherry"]


async def test_retriever_ainvoke_is_native(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _fruit_store(store)
    avs = _async_only(vs, monkeypatch)
    threshold = avs.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"k": 4, "score_threshold": 0.75, "filter": {"kind": "dessert"}},
    )
    assert [d.id for d in await threshold.ainvoke("apple")] == ["apple pie"]
    mmr = avs.as_retriever(search_type="mmr", search_kwargs={"k": 1, "filter": {"n": 3}})
    assert [d.id for d in await mmr.ainvoke("apple")] == ["cherry"]


# --------------------------------------------------------------------------- keyword / hybrid
WORDS = {
    "red apple pie": [1.0, 0.0, 0.0],
    "green apple": [0.9, 0.1, 0.0],
    "yellow banana bread": [0.0, 1.0, 0.0],
    "apple": [1.0, 0.0, 0.0],
    "banana": [0.0, 1.0, 0.0],
}


def _words_store(store: Store) -> BrunoVectorStore:
    vs = BrunoVectorStore(TableEmbeddings(WORDS), store=store, collection=_fresh())
    texts = ["red apple pie", "green apple", "yellow banana bread"]
    vs.add_texts(texts, [{"n": 1}, {"n": 2}, {"n": 3}], ids=["pie", "green", "bread"])
    return vs


def test_keyword_and_hybrid_search(store: Store) -> None:
    require_capability(store, "hybrid_search")
    vs = _words_store(store)
    kw = vs.keyword_search("apple", k=5)
    assert sorted(d.id for d, _ in kw) == ["green", "pie"]
    assert all(0.0 < s < 1.0 for _, s in kw)
    assert [d.id for d, _ in vs.keyword_search("apple", filter={"n": 2})] == ["green"]
    hybrid = vs.hybrid_search("banana", k=3)
    assert hybrid[0][0].id == "bread" and hybrid[0][1] == pytest.approx(1.0)
    assert all(0.0 <= s <= 1.0 for _, s in hybrid)
    filtered = vs.hybrid_search("apple", k=3, filter={"n": {"$gte": 2}})
    assert filtered[0][0].id == "green" and {d.id for d, _ in filtered} <= {"green", "bread"}


async def test_async_keyword_and_hybrid_search_are_native(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_capability(store, "hybrid_search")
    vs = _words_store(store)
    avs = _async_only(vs, monkeypatch, WORDS)
    kw = await avs.akeyword_search("bread", k=2)
    assert [d.id for d, _ in kw] == ["bread"]
    hybrid = await avs.ahybrid_search("banana", k=1, filter={"n": 3})
    assert [d.id for d, _ in hybrid] == ["bread"]


def test_keyword_and_hybrid_search_without_capability_raise() -> None:
    class VectorOnlyBackend(MemoryBackend):
        capabilities = MemoryBackend.capabilities.with_(keyword_search=False, hybrid_search=False)

    vs = BrunoVectorStore(TableEmbeddings(WORDS), store=Store(VectorOnlyBackend()), collection="c")
    vs.add_texts(["green apple"], ids=["green"])
    with pytest.raises(NotSupportedError, match="keyword search"):
        vs.keyword_search("apple")
    with pytest.raises(NotSupportedError, match="hybrid search"):
        vs.hybrid_search("apple")
    assert [d.id for d in vs.similarity_search("apple", k=1)] == ["green"]


# --------------------------------------------------------------------------- constructors
def test_from_texts_and_from_documents(open_new_store: Callable[[], Store]) -> None:
    store = open_new_store()
    collection = _fresh()
    vs = BrunoVectorStore.from_texts(
        ["apple", "banana"],
        TableEmbeddings(FRUIT),
        [{"i": 1}, {"i": 2}],
        ids=["a", "b"],
        store=store,
        collection=collection,
        metric="dot",
    )
    assert vs.collection == collection and vs.metric == "dot"
    info = store.collection_info(collection)
    assert info is not None and info.metric == "dot"
    docs = [Document(page_content="cherry", metadata={"i": 3}, id="c")]
    vs2 = BrunoVectorStore.from_documents(
        docs, TableEmbeddings(FRUIT), store=store, collection=collection
    )
    # A new Store object over the same database sees everything.
    reopened = BrunoVectorStore(
        TableEmbeddings(FRUIT), store=open_new_store(), collection=collection
    )
    assert [d.id for d in reopened.get_by_ids(["a", "b", "c"])] == ["a", "b", "c"]
    assert vs2.embeddings is not None and isinstance(vs.embeddings, TableEmbeddings)


async def test_afrom_texts_and_afrom_documents(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = _fresh()
    forbid_sync(store, monkeypatch)
    vs = await BrunoVectorStore.afrom_texts(
        ["apple"],
        TableEmbeddings(FRUIT, forbid_sync=True),
        ids=["a"],
        store=store,
        collection=collection,
    )
    await BrunoVectorStore.afrom_documents(
        [Document(page_content="banana", id="b")],
        TableEmbeddings(FRUIT, forbid_sync=True),
        store=store,
        collection=collection,
    )
    assert [d.page_content for d in await vs.aget_by_ids(["a", "b"])] == ["apple", "banana"]


def test_store_argument_accepts_a_url() -> None:
    vs = BrunoVectorStore(TableEmbeddings(FRUIT), store="memory://", collection=_fresh())
    try:
        assert vs.store.backend_name == "memory"
        vs.add_texts(["apple"], ids=["a"])
        assert [d.id for d in vs.similarity_search("apple", k=1)] == ["a"]
    finally:
        vs.store.close()
