"""tenant= on every adapter: two tenants use the same names in one store and never meet.

Runs on every backend of tests/stores.py (the ``store`` fixture). The Store-level
proof, with every read, search, listing and delete, is the TenantTests mixin of
the conformance suite; here each adapter shows that its ``tenant=`` reaches it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import HumanMessage

from bruno_memory_integrations import Store
from bruno_memory_integrations.langchain import (
    BrunoByteStore,
    BrunoChatMessageHistory,
)
from bruno_memory_integrations.langchain import BrunoVectorStore as LCVectorStore


def _tenants() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"acme-{tag}", f"globex-{tag}"


def test_langchain_adapters_keep_tenants_apart(store: Store) -> None:
    a, b = _tenants()
    coll = f"docs_{uuid.uuid4().hex[:8]}"
    emb = DeterministicFakeEmbedding(size=8)
    va = LCVectorStore(emb, store=store, collection=coll, tenant=a)
    vb = LCVectorStore(emb, store=store, collection=coll, tenant=b)
    try:
        va.add_texts(["acme plan"], metadatas=[{"t": "a"}], ids=["x"])
        vb.add_texts(["globex plan"], metadatas=[{"t": "b"}], ids=["x"])
        assert [d.page_content for d in va.get_by_ids(["x"])] == ["acme plan"]
        assert [d.page_content for d in vb.similarity_search("plan", k=5)] == ["globex plan"]
        assert va.similarity_search("plan", k=5, filter={"t": "b"}) == []
        assert va.delete(["x"])
        assert [d.page_content for d in vb.get_by_ids(["x"])] == ["globex plan"]
        assert store.count(coll) == 0  # the root store's own collection of that name is empty
    finally:
        store.tenant(a).drop_collection(coll)
        store.tenant(b).drop_collection(coll)

    if store.capabilities.chat:
        ha = BrunoChatMessageHistory("s1", store=store, tenant=a)
        hb = BrunoChatMessageHistory("s1", store=store, tenant=b)
        ha.add_message(HumanMessage("acme secret"))
        assert hb.messages == []
        hb.add_message(HumanMessage("globex secret"))
        ha.clear()
        assert [m.content for m in hb.messages] == ["globex secret"]
        hb.clear()

    if store.capabilities.kv:
        kv = f"kv_{uuid.uuid4().hex[:8]}"
        ka = BrunoByteStore(store=store, collection=kv, tenant=a)
        kb = BrunoByteStore(store=store, collection=kv, tenant=b)
        ka.mset([("k", b"acme")])
        kb.mset([("k", b"globex")])
        assert ka.mget(["k"]) == [b"acme"]
        assert list(kb.yield_keys()) == ["k"]
        ka.mdelete(["k"])
        assert kb.mget(["k"]) == [b"globex"]
        kb.mdelete(["k"])


def test_llama_index_adapters_keep_tenants_apart(store: Store) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from bruno_memory_integrations.llama_index import BrunoKVStore
    from bruno_memory_integrations.llama_index import BrunoVectorStore as LIVectorStore

    a, b = _tenants()
    coll = f"nodes_{uuid.uuid4().hex[:8]}"
    va = LIVectorStore(store, collection=coll, tenant=a)
    vb = LIVectorStore(store, collection=coll, tenant=b)
    try:
        va.add([TextNode(id_="n", text="acme", embedding=[1.0, 0.0, 0.0])])
        vb.add([TextNode(id_="n", text="globex", embedding=[1.0, 0.0, 0.0])])
        got = va.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=5))
        assert [n.get_content() for n in got.nodes or []] == ["acme"]
        va.clear()
        got = vb.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=5))
        assert [n.get_content() for n in got.nodes or []] == ["globex"]
    finally:
        store.tenant(a).drop_collection(coll)
        store.tenant(b).drop_collection(coll)

    if store.capabilities.chat:
        from llama_index.core.llms import ChatMessage

        from bruno_memory_integrations.llama_index import BrunoChatStore

        ca, cb = BrunoChatStore(store, tenant=a), BrunoChatStore(store, tenant=b)
        ca.add_message("u1", ChatMessage(role="user", content="acme"))
        assert cb.get_keys() == [] and cb.get_messages("u1") == []
        ca.delete_messages("u1")

    if store.capabilities.kv:
        ka, kb = BrunoKVStore(store, tenant=a), BrunoKVStore(store, tenant=b)
        ka.put("doc", {"v": "acme"})
        kb.put("doc", {"v": "globex"})
        assert ka.get_all() == {"doc": {"v": "acme"}}
        assert ka.delete("doc")
        assert kb.get("doc") == {"v": "globex"}
        kb.delete("doc")


def test_langgraph_store_keeps_tenants_apart(store: Store) -> None:
    if not store.capabilities.kv:
        return
    from bruno_memory_integrations.langgraph import BrunoStore

    a, b = _tenants()
    sa, sb = BrunoStore(store, tenant=a), BrunoStore(store, tenant=b)
    sa.put(("users", "1"), "profile", {"name": "acme"})
    sb.put(("users", "1"), "profile", {"name": "globex"})
    assert sa.get(("users", "1"), "profile").value == {"name": "acme"}  # type: ignore[union-attr]
    assert [i.value for i in sb.search(("users",))] == [{"name": "globex"}]
    sa.delete(("users", "1"), "profile")
    assert sb.get(("users", "1"), "profile") is not None
    assert sa.list_namespaces() == []
    sb.delete(("users", "1"), "profile")


def test_adapter_that_opened_the_store_closes_it_through_the_tenant_view(tmp_path: Path) -> None:
    h = BrunoChatMessageHistory("s", store=f"sqlite:///{tmp_path}/t.db", tenant="acme")
    h.add_message(HumanMessage("hi"))
    root = h.store.backend.inner  # type: ignore[attr-defined]
    h.close()
    assert root._closed
    again = BrunoChatMessageHistory("s", store=f"sqlite:///{tmp_path}/t.db", tenant="acme")
    assert [m.content for m in again.messages] == ["hi"]
    untenanted = BrunoChatMessageHistory("s", store=f"sqlite:///{tmp_path}/t.db")
    assert untenanted.messages == []
    untenanted.close()
    again.close()
