"""Data written through LangChain is read through LlamaIndex and back, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_index.core", reason="llama-index-core is not installed")
pytest.importorskip("langchain_core", reason="langchain-core is not installed")

from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from bruno_memory_integrations import CollectionMismatchError, Store
from bruno_memory_integrations import langchain as lc
from bruno_memory_integrations.embeddings import embedding_model_name
from bruno_memory_integrations.embeddings.llama_index import LlamaIndexEmbedding
from bruno_memory_integrations.llama_index import BrunoVectorStore as LIVectorStore

DIM = 8

TEXTS = [
    "Apples grow on trees in cool climates.",
    "Rust has no garbage collector.",
    "Green tea is steamed, black tea is oxidised.",
    "Pears ripen after they are picked.",
]
METAS = [
    {"topic": "fruit", "year": 2020, "tags": ["tree", "food"]},
    {"topic": "code", "year": 2015, "tags": ["lang"]},
    {"topic": "drink", "year": 2021, "tags": ["food"]},
    {"topic": "fruit", "year": 2019, "tags": ["food"], "note": None},
]
IDS = ["apple", "rust", "tea", "pear"]


@pytest.fixture
def coll(store: Store) -> Iterator[str]:
    name = f"x_{uuid.uuid4().hex[:10]}"
    yield name
    if not store.closed:
        store.drop_collection(name)


@pytest.fixture
def lc_embedding() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=DIM)


@pytest.fixture
def li_embedding(lc_embedding: DeterministicFakeEmbedding) -> LlamaIndexEmbedding:
    return LlamaIndexEmbedding(lc_embedding)


def _li_store(store: Store, coll: str, lc_embedding: DeterministicFakeEmbedding) -> LIVectorStore:
    return LIVectorStore(store, collection=coll, embedding_model=embedding_model_name(lc_embedding))


def test_langchain_records_are_llama_index_nodes(
    store: Store, coll: str, lc_embedding: DeterministicFakeEmbedding
) -> None:
    lcs = lc.BrunoVectorStore(lc_embedding, store=store, collection=coll)
    assert lcs.add_texts(TEXTS, METAS, ids=IDS) == IDS
    li = _li_store(store, coll, lc_embedding)
    nodes = li.get_nodes(node_ids=IDS)
    assert [n.node_id for n in nodes] == IDS
    for node, text, meta in zip(nodes, TEXTS, METAS, strict=True):
        assert type(node) is TextNode
        assert node.get_content() == text
        assert node.metadata == meta
        assert node.embedding == pytest.approx(lc_embedding.embed_documents([text])[0], abs=1e-5)
    # A LlamaIndex query with LangChain's query vector finds what LangChain finds.
    q = lc_embedding.embed_query(TEXTS[2])
    res = li.query(VectorStoreQuery(query_embedding=q, similarity_top_k=2))
    lc_hits = lcs.similarity_search_with_score_by_vector(q, k=2)
    assert res.ids == [d.id for d, _ in lc_hits]
    assert res.similarities == pytest.approx([s for _, s in lc_hits], abs=1e-6)
    fruit = MetadataFilters(filters=[MetadataFilter(key="topic", value="fruit")])
    res = li.query(VectorStoreQuery(query_embedding=q, similarity_top_k=4, filters=fruit))
    assert sorted(res.ids or []) == ["apple", "pear"]
    food = MetadataFilters(
        filters=[
            MetadataFilter(key="tags", value="food", operator=FilterOperator.CONTAINS),
            MetadataFilter(key="year", value=2020, operator=FilterOperator.GTE),
        ]
    )
    assert sorted(n.node_id for n in li.get_nodes(filters=food)) == ["apple", "tea"]


def test_llama_index_nodes_are_langchain_documents(
    store: Store, coll: str, lc_embedding: DeterministicFakeEmbedding
) -> None:
    li = _li_store(store, coll, lc_embedding)
    nodes = [
        TextNode(
            id_=i,
            text=t,
            metadata=m,
            embedding=lc_embedding.embed_documents([t])[0],
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i}")},
        )
        for i, t, m in zip(IDS, TEXTS, METAS, strict=True)
    ]
    li.add(nodes)
    lcs = lc.BrunoVectorStore(lc_embedding, store=store, collection=coll)
    docs = lcs.get_by_ids(IDS)
    assert [d.id for d in docs] == IDS
    for doc, text, meta in zip(docs, TEXTS, METAS, strict=True):
        assert doc.page_content == text
        assert doc.metadata == meta  # the LlamaIndex-only keys stay hidden
    (hit,) = lcs.similarity_search(TEXTS[1], k=1, filter={"topic": "code"})
    assert (hit.id, hit.page_content) == ("rust", TEXTS[1])
    # ...and what LangChain rewrites, LlamaIndex reads back.
    lcs.add_documents([LCDocument(page_content="Rust 2.0", metadata={"topic": "code"}, id="rust")])
    (node,) = li.get_nodes(node_ids=["rust"])
    assert (node.get_content(), node.metadata) == ("Rust 2.0", {"topic": "code"})
    li.delete("doc-apple")  # by LlamaIndex source document
    assert [d.id for d in lcs.get_by_ids(IDS)] == ["rust", "tea", "pear"]


def test_one_embedding_model_per_collection_across_frameworks(
    store: Store, coll: str, lc_embedding: DeterministicFakeEmbedding
) -> None:
    lc.BrunoVectorStore(lc_embedding, store=store, collection=coll).add_texts(TEXTS[:1], ids=["a"])
    other = LIVectorStore(store, collection=coll, embedding_model="another-model")
    with pytest.raises(CollectionMismatchError):
        other.add([TextNode(id_="b", text="b", embedding=[0.1] * DIM)])
    with pytest.raises(CollectionMismatchError):
        other.query(VectorStoreQuery(query_embedding=[0.1] * DIM))


def test_llama_index_index_over_a_langchain_collection(
    store: Store,
    coll: str,
    lc_embedding: DeterministicFakeEmbedding,
    li_embedding: LlamaIndexEmbedding,
) -> None:
    lcs = lc.BrunoVectorStore(lc_embedding, store=store, collection=coll)
    lcs.add_texts(TEXTS, METAS, ids=IDS)
    index = VectorStoreIndex.from_vector_store(
        _li_store(store, coll, lc_embedding), embed_model=li_embedding
    )
    for text, want in zip(TEXTS, IDS, strict=True):
        hits = index.as_retriever(similarity_top_k=1).retrieve(text)
        lc_top = lcs.similarity_search(text, k=1)
        assert [h.node.node_id for h in hits] == [lc_top[0].id] == [want]
        assert hits[0].node.get_content() == lc_top[0].page_content
    hits = index.as_retriever(
        similarity_top_k=4,
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="fruit")]),
    ).retrieve("which fruit?")
    assert sorted(h.node.node_id for h in hits) == ["apple", "pear"]
    assert all(h.node.metadata["topic"] == "fruit" for h in hits)


async def test_async_round_trip(
    store: Store,
    coll: str,
    lc_embedding: DeterministicFakeEmbedding,
    li_embedding: LlamaIndexEmbedding,
) -> None:
    lcs = lc.BrunoVectorStore(lc_embedding, store=store, collection=coll)
    await lcs.aadd_texts(TEXTS, METAS, ids=IDS)
    li = _li_store(store, coll, lc_embedding)
    index = VectorStoreIndex.from_vector_store(li, embed_model=li_embedding)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve(TEXTS[3])
    assert [h.node.node_id for h in hits] == [(await lcs.asimilarity_search(TEXTS[3], k=1))[0].id]
    await li.async_add(
        [
            TextNode(
                id_="new",
                text="from llama",
                embedding=await li_embedding.aget_text_embedding("from llama"),
            )
        ]
    )
    (doc,) = await lcs.aget_by_ids(["new"])
    assert (doc.page_content, doc.metadata) == ("from llama", {})


def test_chat_sessions_are_readable_from_both_frameworks(make_store: Callable[[], Store]) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
    from llama_index.core.llms import ChatMessage, MessageRole

    from bruno_memory_integrations.langchain import BrunoChatMessageHistory
    from bruno_memory_integrations.llama_index import BrunoChatStore

    store = make_store()
    try:
        ns = f"shared-{uuid.uuid4().hex[:6]}"
        history = BrunoChatMessageHistory("s1", store=store, namespace=ns)
        history.add_messages(
            [
                SystemMessage("be brief"),
                HumanMessage("weather in Paris?", name="ana"),
                AIMessage(
                    "", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "c1"}]
                ),
                ToolMessage("sunny", tool_call_id="c1"),
                AIMessage("It is sunny."),
            ]
        )
        chat = BrunoChatStore(store, namespace=ns)
        seen = chat.get_messages("s1")
        assert [m.role for m in seen] == [
            MessageRole.SYSTEM,
            MessageRole.USER,
            MessageRole.ASSISTANT,
            MessageRole.TOOL,
            MessageRole.ASSISTANT,
        ]
        assert [m.content for m in seen] == [
            "be brief",
            "weather in Paris?",
            "",
            "sunny",
            "It is sunny.",
        ]
        assert seen[1].additional_kwargs["name"] == "ana"
        call = seen[2].additional_kwargs["tool_calls"][0]
        assert (call["id"], call["function"]["name"]) == ("c1", "weather")
        assert seen[3].additional_kwargs["tool_call_id"] == "c1"

        chat.add_message("s1", ChatMessage(role=MessageRole.USER, content="and tomorrow?"))
        back = BrunoChatMessageHistory("s1", store=store, namespace=ns).messages
        assert [m.type for m in back] == ["system", "human", "ai", "tool", "ai", "human"]
        assert back[-1].content == "and tomorrow?"
        assert back[2].tool_calls[0]["args"] == {"city": "Paris"}
        assert back[3].tool_call_id == "c1"
        # Each framework's own messages still round-trip exactly.
        assert back[:5] == history.messages[:5]
    finally:
        store.close()


def test_adapters_close_only_stores_they_opened(tmp_path: Path) -> None:
    from bruno_memory_integrations import StoreClosedError, open_store
    from bruno_memory_integrations.langchain import BrunoByteStore
    from bruno_memory_integrations.llama_index import BrunoKVStore

    url = f"sqlite:///{tmp_path}/owned.db"
    mine = open_store(url)
    lcs = lc.BrunoVectorStore(DeterministicFakeEmbedding(size=8), store=mine)
    li = LIVectorStore(store=mine)
    lcs.close()
    li.close()
    assert not mine.closed  # a Store the caller passed in stays open
    owned = [BrunoByteStore(store=url), BrunoKVStore(url), LIVectorStore(store=url)]
    for adapter in owned:
        adapter.close()
        assert adapter.store.closed
    with pytest.raises(StoreClosedError):
        owned[0].mget(["k"])
    mine.close()
