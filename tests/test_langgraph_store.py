"""BrunoStore on every backend: LangGraph's own store tests, adapted.

Adapted from the langchain-ai/langgraph repository (libs/checkpoint/tests/test_store.py,
the store tests shared by the official PostgreSQL / Redis stores, and
libs/checkpoint/tests/test_store_ttl.py): batch order and batch get / put /
search / list-namespaces ops, namespace listing with prefixes, suffixes,
wildcards, depth and paging, namespace validation, semantic insert / update /
filters / paging / edge cases, embedding chosen fields and array elements,
non-ASCII, and TTL refresh on read. They are adapted, not copied: they run on
every backend through the shared fixtures, use a deterministic embedding (the
upstream CharacterEmbeddings is not shipped in the package), and check the
package's score rule (scores in [0, 1]) instead of raw cosine similarity.
Left out: the tests of InMemoryStore internals and of the AsyncBatchedBaseStore
mock (they test LangGraph, not a store).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import pytest

pytest.importorskip("langgraph.store.base", reason="needs the langgraph extra")

from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph_fakes import TrigramEmbeddings
from stores import forbid_sync, require_capability

from bruno_memory_integrations import InvalidInputError, NotSupportedError, Store
from bruno_memory_integrations.langgraph import BrunoStore

DIMS = 256


def _bstore(store: Store, *, index: bool = False, **kwargs: object) -> BrunoStore:
    config = {"dims": DIMS, "embed": TrigramEmbeddings(DIMS)} if index else None
    if index and "fields" in kwargs:
        config["fields"] = kwargs.pop("fields")  # type: ignore[index]
    return BrunoStore(store, index=config, prefix=f"s{uuid.uuid4().hex[:12]}", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- batch ops
def test_batch_order(store: Store) -> None:
    s = _bstore(store)
    s.put(("test", "foo"), "key1", {"data": "value1"})
    s.put(("test", "bar"), "key2", {"data": "value2"})
    results = s.batch(
        [
            GetOp(("test", "foo"), "key1"),
            PutOp(("test", "bar"), "key2", {"data": "value2"}),
            SearchOp(("test",), filter={"data": "value1"}, limit=10, offset=0),
            ListNamespacesOp(match_conditions=None, max_depth=None, limit=10, offset=0),
            GetOp(("test",), "key3"),
        ]
    )
    assert isinstance(results[0], Item) and results[0].value == {"data": "value1"}
    assert results[0].namespace == ("test", "foo") and results[0].key == "key1"
    assert results[1] is None
    assert [i.key for i in results[2]] == ["key1"]  # type: ignore[union-attr]
    assert sorted(results[3]) == [("test", "bar"), ("test", "foo")]  # type: ignore[arg-type]
    assert results[4] is None


def test_batch_reads_see_the_state_before_its_writes(store: Store) -> None:
    s = _bstore(store)
    s.put(("a",), "k", {"v": 1})
    got, _, _ = s.batch(
        [GetOp(("a",), "k"), PutOp(("a",), "k", {"v": 2}), PutOp(("a",), "k", {"v": 3})]
    )
    assert got.value == {"v": 1}  # type: ignore[union-attr]
    assert s.get(("a",), "k").value == {"v": 3}  # type: ignore[union-attr]  # last put wins


def test_batch_get_put_delete(store: Store) -> None:
    s = _bstore(store)
    s.batch([PutOp(("ns",), f"k{i}", {"i": i}) for i in range(5)])
    got = s.batch([GetOp(("ns",), "k1"), GetOp(("ns",), "nope"), GetOp(("ns",), "k4")])
    assert [g.value if g else None for g in got] == [{"i": 1}, None, {"i": 4}]  # type: ignore[union-attr]
    first = s.get(("ns",), "k1")
    assert first is not None and isinstance(first.created_at, datetime)
    time.sleep(0.01)
    s.put(("ns",), "k1", {"i": 10})
    again = s.get(("ns",), "k1")
    assert again is not None and again.value == {"i": 10}
    assert again.created_at == first.created_at and again.updated_at > first.updated_at
    s.batch([PutOp(("ns",), "k1", None), PutOp(("ns",), "never-there", None)])
    assert s.get(("ns",), "k1") is None
    assert len(s.search(("ns",))) == 4


def test_search_filters_paging_and_order(store: Store) -> None:
    s = _bstore(store)
    for i in range(6):
        s.put(("docs", "u1"), f"d{i}", {"n": i, "tag": "even" if i % 2 == 0 else "odd",
                                         "meta": {"lang": "en" if i < 3 else "fr"}})
    s.put(("docs", "u2"), "other", {"n": 100, "tag": "even"})
    s.put(("docsx",), "not-under-prefix", {"n": 1, "tag": "even"})
    newest_first = [i.key for i in s.search(("docs", "u1"), limit=10)]
    assert newest_first == [f"d{i}" for i in range(5, -1, -1)]
    assert [i.key for i in s.search(("docs",), filter={"tag": "even"}, limit=10)] == [
        "other", "d4", "d2", "d0",
    ]
    assert {i.key for i in s.search(("docs",), filter={"n": {"$gte": 3, "$lt": 100}})} == {
        "d3", "d4", "d5",
    }
    assert {i.key for i in s.search(("docs",), filter={"n": {"$ne": 100}}, limit=10)} == {
        f"d{i}" for i in range(6)
    }
    assert {i.key for i in s.search(("docs",), filter={"meta": {"lang": "fr"}})} == {
        "d3", "d4", "d5",
    }
    assert {i.key for i in s.search(("docs",), filter={"meta.lang": "en"})} == {"d0", "d1", "d2"}
    page1 = [i.key for i in s.search(("docs", "u1"), limit=2)]
    page2 = [i.key for i in s.search(("docs", "u1"), limit=2, offset=2)]
    assert page1 == ["d5", "d4"] and page2 == ["d3", "d2"]
    assert len(s.search((), limit=100)) == 8
    with pytest.raises(InvalidInputError, match="operator"):
        s.search(("docs",), filter={"n": {"$regex": "x"}})


# ---------------------------------------------------------------- namespaces
NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("b", "a", "f"),
    ("users", "123"),
    ("users", "456", "settings"),
    ("admin", "users", "789"),
]


def test_list_namespaces(store: Store) -> None:
    s = _bstore(store)
    assert s.list_namespaces() == []
    for i, ns in enumerate(NAMESPACES):
        s.put(ns, f"id_{i}", {"data": f"value_{i:02d}"})
    assert s.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"),
    ]
    assert s.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert s.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f"),
    ]
    assert s.list_namespaces(prefix=("a", "b"), limit=2) == [("a", "b", "c"), ("a", "b", "d", "e")]
    assert s.list_namespaces(prefix=("a", "b"), offset=2) == [("a", "b", "d", "i"), ("a", "b", "f")]
    assert s.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(suffix=("*", "f")) == [
        ("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f"),
    ]
    assert s.list_namespaces(prefix=("users", "*")) == [
        ("users", "123"), ("users", "456", "settings"),
    ]
    assert s.list_namespaces(prefix=("*", "users"), suffix=("*", "settings")) == []
    assert s.list_namespaces(prefix=("nonexistent",)) == []
    assert s.list_namespaces(prefix=("users", "123")) == [("users", "123")]
    assert s.list_namespaces(max_depth=2) == [
        ("a", "b"), ("a", "c"), ("admin", "users"), ("b", "a"), ("users", "123"), ("users", "456"),
    ]
    assert sorted(s.list_namespaces(limit=100)) == sorted(NAMESPACES)
    # a prefix stops at label boundaries
    s.put(("ab",), "k", {"x": 1})
    assert ("ab",) not in s.list_namespaces(prefix=("a",))
    assert s.batch(
        [ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("a", "c")),), limit=10)]
    ) == [[("a", "c", "f")]]


def test_list_namespaces_pagination(store: Store) -> None:
    s = _bstore(store)
    for i in range(20):
        s.put(("namespace", f"sub_{i:02d}"), f"id_{i:02d}", {"data": i})
    for offset in (0, 5, 15):
        assert s.list_namespaces(prefix=("namespace",), limit=5, offset=offset) == [
            ("namespace", f"sub_{i:02d}") for i in range(offset, offset + 5)
        ]


async def test_invalid_namespaces_are_refused(store: Store) -> None:
    s = _bstore(store)
    doc = {"foo": "bar"}
    for bad in [(), ("the", "thing.about"), ("some", "fun", ""), ("langgraph", "foo")]:
        with pytest.raises(InvalidNamespaceError):
            s.put(bad, "foo", doc)
        with pytest.raises(InvalidNamespaceError):
            await s.aput(bad, "foo", doc)
    with pytest.raises(InvalidNamespaceError):
        s.batch([PutOp(("a.b",), "k", doc)])  # the dotted label would alias ("a", "b")
    with pytest.raises(InvalidInputError):
        s.batch([PutOp(("ok",), "", doc)])
    with pytest.raises(InvalidInputError, match="JSON"):
        s.put(("ok",), "k", {"when": object()})
    assert s.list_namespaces() == []  # nothing was written
    await s.aput(("foo", "langgraph", "foo"), "bar", doc)
    assert (await s.aget(("foo", "langgraph", "foo"), "bar")).value == doc  # type: ignore[union-attr]
    s.batch([PutOp(("langgraph", "foo"), "bar", doc)])  # the reserved root passes below put()
    assert s.search(("langgraph", "foo"))[0].value == doc


def test_non_ascii_and_odd_keys(store: Store) -> None:
    s = _bstore(store, index=True)
    s.put(("user_123", "memories"), "1", {"text": "这是中文"})
    s.put(("user_123", "memories"), "2", {"text": "これは日本語です"})
    s.put(("user_123", "memories"), "3", {"text": "이건 한국어야"})
    s.put(("user_123", "memories"), "4", {"text": "Это русский"})
    s.put(("user_123", "memories"), "5", {"text": "यह हिंदी है"})
    s.put(("ns\"q", "x\x1fy", "🦜"), 'key "=\x1f', {"text": "quoted"})
    assert s.search(("user_123", "memories"), query="这是中文")[0].key == "1"
    assert s.search(("user_123", "memories"), query="Это русский")[0].key == "4"
    assert s.get(("ns\"q", "x\x1fy", "🦜"), 'key "=\x1f').value == {"text": "quoted"}  # type: ignore[union-attr]
    assert ("ns\"q", "x\x1fy", "🦜") in s.list_namespaces()


# ---------------------------------------------------------------- semantic search
DOCS = [
    ("doc1", {"text": "red apple", "color": "red", "score": 4.5}),
    ("doc2", {"text": "red car", "color": "red", "score": 3.0}),
    ("doc3", {"text": "green apple", "color": "green", "score": 4.0}),
    ("doc4", {"text": "blue car", "color": "blue", "score": 3.5}),
]


def test_vector_insert_and_search(store: Store) -> None:
    s = _bstore(store, index=True)
    for key, value in [
        ("doc1", {"text": "short text"}),
        ("doc2", {"text": "longer text document"}),
        ("doc3", {"text": "longest text document here"}),
        ("doc4", {"description": "text in description field"}),
    ]:
        s.put(("test",), key, value)
    results = s.search(("test",), query="longer text")
    assert results[0].key == "doc2" and "doc3" in [r.key for r in results]
    assert all(0.0 <= r.score <= 1.0 for r in results)  # type: ignore[operator]
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_vector_update_replaces_embedding(store: Store) -> None:
    s = _bstore(store, index=True, fields=["text"])
    s.put(("test",), "doc1", {"text": "zany zebra Xerxes"})
    s.put(("test",), "doc2", {"text": "something about dogs"})
    s.put(("test",), "doc3", {"text": "text about birds"})
    initial = s.search(("test",), query="Zany Xerxes")
    assert initial[0].key == "doc1"
    s.put(("test",), "doc1", {"text": "new text about dogs"})
    after = {r.key: r.score for r in s.search(("test",), query="Zany Xerxes")}
    assert after["doc1"] < initial[0].score  # type: ignore[operator]
    s.put(("test",), "doc4", {"text": "new text about dogs"}, index=False)
    found = [r.key for r in s.search(("test",), query="new text about dogs", limit=3)]
    assert "doc4" not in found and found[0] == "doc1"
    s.delete(("test",), "doc1")
    assert "doc1" not in [r.key for r in s.search(("test",), query="new text about dogs")]
    # no stale vector records are left behind by updates or deletes
    assert store.count(s.vectors) == 2


def test_vector_search_with_filters(store: Store) -> None:
    s = _bstore(store, index=True, fields=["text"])
    for key, value in DOCS:
        s.put(("test",), key, value)
    s.put(("elsewhere",), "doc9", {"text": "red apple", "color": "red", "score": 9.0})
    results = s.search(("test",), query="apple", filter={"color": "red"})
    assert [r.key for r in results] == ["doc1", "doc2"]
    assert s.search(("test",), query="car", filter={"color": "red"})[0].key == "doc2"
    results = s.search(("test",), query="bbbbluuu", filter={"score": {"$gt": 3.2}})
    assert len(results) == 3 and results[0].key == "doc4"
    results = s.search(("test",), query="apple", filter={"score": {"$gte": 4.0}, "color": "green"})
    assert [r.key for r in results] == ["doc3"]


def test_vector_search_paging_and_edge_cases(store: Store) -> None:
    s = _bstore(store, index=True)
    for i in range(5):
        s.put(("test",), f"doc{i}", {"text": f"test document number {i}"})
    page1 = s.search(("test",), query="test", limit=2)
    page2 = s.search(("test",), query="test", limit=2, offset=2)
    assert len(page1) == 2 and len(page2) == 2
    assert not {r.key for r in page1} & {r.key for r in page2}
    assert len(s.search(("test",), query="test", limit=10)) == 5
    for query in ("", None, "test " * 100, "test!@#$%^&*()"):
        assert len(s.search(("test",), query=query, limit=10)) == 5


def test_embed_chosen_fields_and_array_elements(store: Store) -> None:
    s = _bstore(store, index=True, fields=["key0", "key1.nested", "items[*].text"])
    s.put(("t",), "a", {"key0": "the blue whale", "key1": {"nested": "ocean giant"},
                        "items": [{"text": "krill feast"}, {"text": "deep dive"}]})
    s.put(("t",), "b", {"key0": "a red fox", "other": "krill feast deep dive whale"})
    assert s.search(("t",), query="krill feast")[0].key == "a"  # an array element
    assert s.search(("t",), query="ocean giant")[0].key == "a"  # a nested field
    assert s.search(("t",), query="red fox")[0].key == "b"
    # an unlisted field is not embedded: "other" does not make b the best match
    s.put(("t",), "c", {"x": "nothing"}, index=["x"])
    assert s.search(("t",), query="nothing")[0].key == "c"
    assert store.count(s.vectors) == 4 + 1 + 1


def test_index_config_is_checked(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="dims"):
        BrunoStore(store, index={"dims": 0, "embed": TrigramEmbeddings()})
    with pytest.raises(InvalidInputError, match="distance_type"):
        BrunoStore(store, index={"dims": 8, "embed": TrigramEmbeddings(8),
                                 "distance_type": "manhattan"})  # type: ignore[typeddict-unknown-key]


# ---------------------------------------------------------------- async
async def test_async_batch_uses_only_the_async_store_api(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _bstore(store, index=True, fields=["text"])
    forbid_sync(store, monkeypatch)
    await asyncio.gather(*(s.aput(("test",), k, v) for k, v in DOCS))
    assert (await s.aget(("test",), "doc3")).value == DOCS[2][1]  # type: ignore[union-attr]
    results = await s.asearch(("test",), query="apple", filter={"color": "red"})
    assert [r.key for r in results] == ["doc1", "doc2"]
    assert await s.alist_namespaces() == [("test",)]
    await s.adelete(("test",), "doc1")
    assert await s.aget(("test",), "doc1") is None
    results = await s.abatch([GetOp(("test",), "doc2"), SearchOp(("test",), limit=10)])
    assert results[0].key == "doc2" and len(results[1]) == 3  # type: ignore[union-attr,arg-type]


# ---------------------------------------------------------------- TTL
def test_ttl_expires_and_refreshes_on_read(store: Store) -> None:
    require_capability(store, "ttl")
    # A 2 s TTL, read every 0.5 s for 2.5 s: "kept" is refreshed with 1.5 s to spare
    # for each round's calls (a loaded machine slows them), and the others expire.
    minutes = 2 / 60
    s = _bstore(store, index=True, fields=["text"], ttl={"default_ttl": minutes})
    assert s.supports_ttl
    s.put(("t",), "kept", {"text": "refreshed by reads"})
    s.put(("t",), "left", {"text": "never read again"})
    s.put(("t",), "forever", {"text": "no expiry"}, ttl=None)
    s.put(("t",), "no-refresh", {"text": "read without refresh"})
    began = time.monotonic()
    while time.monotonic() - began < 2.5:
        time.sleep(0.5)
        assert s.get(("t",), "kept") is not None  # each read restarts its clock
        assert s.search(("t",), query="refreshed by reads", limit=1)[0].key == "kept"
        s.get(("t",), "no-refresh", refresh_ttl=False)
    assert s.get(("t",), "left") is None
    assert s.get(("t",), "no-refresh", refresh_ttl=False) is None
    assert s.get(("t",), "forever") is not None
    hits = {r.key for r in s.search(("t",), query="refreshed by reads")}
    assert hits == {"kept", "forever"}


def test_ttl_refused_without_the_capability(store: Store) -> None:
    if store.capabilities.ttl:
        pytest.skip(f"backend {store.backend_name!r} has capability 'ttl'; this checks its absence")
    s = _bstore(store)
    assert not s.supports_ttl
    with pytest.raises(NotImplementedError):
        s.put(("t",), "k", {"v": 1}, ttl=5)
    with pytest.raises(NotSupportedError):
        s.batch([PutOp(("t",), "k", {"v": 1}, ttl=5)])
    with pytest.raises(NotSupportedError):
        _bstore(store, ttl={"default_ttl": 5})
    assert s.get(("t",), "k") is None
