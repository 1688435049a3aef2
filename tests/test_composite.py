"""A composite store: records, chat messages and key-value items in different stores."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bruno_memory_integrations import NotSupportedError, Record, Store, open_store
from bruno_memory_integrations.backends.composite import CompositeBackend
from bruno_memory_integrations.testing import ConformanceTests


class TestSQLiteRecordsMemoryChatAndKV(ConformanceTests):
    """Records in SQLite, chat and key-value items in the memory backend."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        name = uuid.uuid4().hex

        def make() -> Store:
            side = open_store("memory://", name=name)
            return open_store(records=f"sqlite:///{tmp_path / 'r.db'}", chat=side, kv=side)

        return make


class TestMemoryRecordsSQLiteChatAndKV(ConformanceTests):
    """The other way round: TTL is then refused (SQLite has none), everything else passes."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        name = uuid.uuid4().hex
        return lambda: open_store(
            f"sqlite:///{tmp_path / 'rest.db'}", records=open_store("memory://", name=name)
        )


def test_each_kind_lives_in_its_own_store(tmp_path: Path) -> None:
    records, chat, kv = (tmp_path / f"{k}.db" for k in ("records", "chat", "kv"))
    with open_store(records=f"sqlite:///{records}", chat=f"sqlite:///{chat}",
                    kv=f"sqlite:///{kv}") as s:
        s.upsert("docs", [Record("a", "hello", [1.0, 0.0])])
        s.append_messages("s1", [{"role": "user", "content": "hi"}])
        s.kv_mset("bytes", {"k": b"v"})
    with open_store(f"sqlite:///{records}") as r, open_store(f"sqlite:///{chat}") as c, \
            open_store(f"sqlite:///{kv}") as k:
        assert (r.count("docs"), r.list_sessions(), r.kv_keys("bytes")) == (1, [], [])
        assert (c.list_collections(), c.get_messages("s1")[0]["content"]) == ([], "hi")
        assert (k.list_collections(), k.kv_mget("bytes", ["k"])) == ([], [b"v"])


def test_kinds_not_named_live_in_the_base_store_or_are_absent(tmp_path: Path) -> None:
    base = f"sqlite:///{tmp_path / 'base.db'}"
    with open_store(base, records="memory://") as s:
        s.append_messages("s", [{"role": "user"}])
        s.upsert("docs", [Record("a", "x", [1.0, 0.0])])
    with open_store(base) as plain:
        assert plain.list_sessions() == ["s"] and plain.list_collections() == []
    with open_store(records="memory://") as only_records:
        assert not only_records.capabilities.chat and not only_records.capabilities.kv
        with pytest.raises(NotSupportedError, match="chat=none"):
            only_records.append_messages("s", [{"role": "user"}])
        with pytest.raises(NotSupportedError, match="kv=none"):
            only_records.kv_mset("c", {"k": b"v"})
        only_records.upsert("docs", [Record("a", "x", [1.0, 0.0])])  # records still work
    with open_store(chat="memory://") as only_chat:
        assert only_chat.list_collections() == [] and only_chat.count("docs") == 0
        with pytest.raises(NotSupportedError, match="vector records; pass records=URL"):
            only_chat.upsert("docs", [Record("a", "x", [1.0, 0.0])])
        only_chat.append_messages("s", [{"role": "user"}])


def test_one_url_named_twice_is_opened_once_and_closed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    s = open_store(records="memory://", chat=url, kv=url)
    backend = s.backend
    assert isinstance(backend, CompositeBackend) and backend.chat is backend.kv
    assert len(backend.parts()) == 2
    s.close()
    with pytest.raises(Exception):  # noqa: B017 - the part is closed, whatever it raises
        backend.run(lambda: backend.kv_keys("bytes", None))


def test_capabilities_come_from_the_part_doing_the_work(redis_url: str, tmp_path: Path) -> None:
    pytest.importorskip("redis")
    pytest.importorskip("qdrant_client")
    with open_store(records=redis_url, chat="qdrant://:memory:", kv=redis_url) as s:
        caps = s.capabilities
        assert caps.nested_metadata is False  # Redis holds the records
        assert caps.ttl is False  # Qdrant holds the chat and has no TTL
        assert caps.native_async is True
    with open_store(records=redis_url, chat=f"sqlite:///{tmp_path / 'c.db'}",
                    kv=redis_url) as s:
        assert s.capabilities.ttl is True  # Redis and SQLite both expire data


# ---------------------------------------------------------------- every adapter, unchanged
@pytest.fixture
def composite(redis_url: str, tmp_path: Path) -> Iterator[Store]:
    """Records in SQLite; chat and key-value items in Redis."""
    pytest.importorskip("redis")
    store = open_store(records=f"sqlite:///{tmp_path / 'vectors.db'}", chat=redis_url,
                       kv=redis_url)
    yield store
    store.close()


def test_langchain_adapters_on_a_composite(composite: Store, redis_url: str) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bruno_memory_integrations.langchain import (
        BrunoByteStore,
        BrunoChatMessageHistory,
        BrunoVectorStore,
    )

    vs = BrunoVectorStore(DeterministicFakeEmbedding(size=16), store=composite, collection="lc")
    vs.add_texts(["jupiter is big", "bread needs flour"], [{"t": "space"}, {"t": "food"}],
                 ids=["j", "b"])
    found = vs.similarity_search("jupiter is big", k=1, filter={"t": "space"})
    assert [d.id for d in found] == ["j"]

    session = f"s{uuid.uuid4().hex[:8]}"
    history = BrunoChatMessageHistory(session, store=composite)
    history.add_user_message("hi")
    history.add_ai_message("hello")
    assert [m.content for m in history.messages] == ["hi", "hello"]

    kv_name = f"kv{uuid.uuid4().hex[:8]}"
    byte_store = BrunoByteStore(store=composite, collection=kv_name)
    byte_store.mset([("a", b"1"), ("b", b"2")])
    assert byte_store.mget(["a", "b", "c"]) == [b"1", b"2", None]

    # The chat and the bytes really are in Redis, the records in SQLite.
    with open_store(redis_url) as redis:
        again = BrunoChatMessageHistory(session, store=redis)
        assert [m.content for m in again.messages] == ["hi", "hello"]
        assert redis.kv_keys(kv_name) == ["a", "b"]
        assert "lc" not in redis.list_collections()


async def test_langchain_async_adapters_on_a_composite(composite: Store) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bruno_memory_integrations.langchain import BrunoChatMessageHistory, BrunoVectorStore

    vs = BrunoVectorStore(DeterministicFakeEmbedding(size=16), store=composite, collection="a")
    await vs.aadd_texts(["one", "two"], ids=["1", "2"])
    assert [d.id for d in await vs.asimilarity_search("one", k=1)] == ["1"]
    history = BrunoChatMessageHistory(f"s{uuid.uuid4().hex[:8]}", store=composite)
    await history.aadd_messages([])
    from langchain_core.messages import HumanMessage

    await history.aadd_messages([HumanMessage("async hi")])
    assert [m.content for m in await history.aget_messages()] == ["async hi"]


def test_llama_index_adapters_on_a_composite(composite: Store) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from bruno_memory_integrations.llama_index import BrunoChatStore, BrunoVectorStore

    vs = BrunoVectorStore(composite, collection="li")
    vs.add([
        TextNode(id_="n1", text="moon landing", embedding=[1.0, 0.0, 0.0]),
        TextNode(id_="n2", text="bread recipe", embedding=[0.0, 1.0, 0.0]),
    ])
    result = vs.query(VectorStoreQuery(query_embedding=[1.0, 0.1, 0.0], similarity_top_k=1))
    assert result.ids == ["n1"]

    chat = BrunoChatStore(composite, namespace=f"ns{uuid.uuid4().hex[:8]}")
    chat.set_messages("u1", [ChatMessage(role="user", content="hi")])
    chat.add_message("u1", ChatMessage(role="assistant", content="hello"))
    assert [m.content for m in chat.get_messages("u1")] == ["hi", "hello"]
    assert chat.get_keys() == ["u1"]


def test_postgres_for_chat_and_kv_with_qdrant_records(postgres_url: str) -> None:
    """The issue's "PostgreSQL + Qdrant": records in Qdrant (local mode), the rest in PostgreSQL."""
    pytest.importorskip("psycopg")
    pytest.importorskip("qdrant_client")
    session = f"s{uuid.uuid4().hex[:8]}"
    with open_store(postgres_url, records="qdrant://:memory:") as s:
        assert s.backend.records.name == "qdrant"  # type: ignore[attr-defined]
        s.upsert("docs", [Record("a", "moon", [1.0, 0.0], {"k": 1}),
                          Record("b", "sun", [0.0, 1.0], {"k": 2})])
        assert [h.record.id for h in s.search("docs", [1.0, 0.1], k=1, filter={"k": 1})] == ["a"]
        s.append_messages(session, [{"role": "user", "content": "hi"}])
    with open_store(postgres_url) as pg:
        assert pg.get_messages(session) == [{"role": "user", "content": "hi"}]
        assert "docs" not in pg.list_collections()


def test_a_composite_over_a_fallback(tmp_path: Path) -> None:
    """The wrappers compose: records kept in two stores with fallback, chat in a third."""
    from bruno_memory_integrations import create_with_fallback

    first, second = (open_store("memory://", name=uuid.uuid4().hex) for _ in range(2))
    records = create_with_fallback([first, second])
    with open_store(records=records, chat=f"sqlite:///{tmp_path / 'chat.db'}") as s:
        s.upsert("docs", [Record("a", "x", [1.0, 0.0])])
        s.append_messages("s", [{"n": 1}])
        assert first.count("docs") == second.count("docs") == 1
        assert first.list_sessions() == []


def test_purge_expired_reaches_every_part_once(tmp_path: Path) -> None:
    """TTL on a composite of SQLite parts: purge_expired() purges each part (a part named
    for two kinds only once) and adds up what went."""
    with open_store(records=f"sqlite:///{tmp_path / 'r.db'}",
                    chat=f"sqlite:///{tmp_path / 'ck.db'}",
                    kv=f"sqlite:///{tmp_path / 'ck.db'}") as s:
        assert s.capabilities.ttl
        s.upsert("c", [Record("a", "t", [1.0, 0.0], {})], ttl=0.05)
        s.upsert("c", [Record("b", "t", [0.0, 1.0], {})])
        s.append_messages("sess", [{"n": 1}, {"n": 2}], ttl=0.05)
        s.kv_mset("kv", {"k": b"v"}, ttl=0.05)
        time.sleep(0.2)
        assert s.purge_expired() == 4  # one record, two messages, one item
        assert s.purge_expired() == 0
        assert s.count("c") == 1 and s.get_messages("sess") == []
        assert s.kv_mget("kv", ["k"]) == [None]
