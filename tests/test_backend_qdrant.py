"""The Qdrant backend: conformance on local mode, the translator on the real engine, specifics.

No Qdrant server can run on the test machines, so the conformance suite runs on
qdrant-client's local mode (Qdrant's Python emulation: in memory, and on disk
where persistence is the point). The filter translation is also run on the real
Rust engine in-process (qdrant-edge-py, ``test_qdrant_edge.py``). The live suite
(``test_qdrant_live.py``) runs everything against a server when ``QDRANT_URL`` is set.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client", reason="the qdrant extra (qdrant-client) is not installed")

from qdrant_client import QdrantClient, models

from bruno_memory_integrations import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    InvalidInputError,
    NotSupportedError,
    Record,
    Store,
    open_store,
)
from bruno_memory_integrations.backends.qdrant.codec import chat_message_id, record_point_id
from bruno_memory_integrations.backends.qdrant.filters import (
    filter_fields,
    index_plan,
    key_hash,
    to_qdrant_filter,
)
from bruno_memory_integrations.backends.qdrant.options import QdrantTarget, mask_url, parse_url
from bruno_memory_integrations.backends.qdrant.query import Call, chat_collection, record_collection
from bruno_memory_integrations.filters import parse_filter
from bruno_memory_integrations.testing import ConformanceTests

try:
    from servers import free_port
except ImportError:  # tests/ imported as a package
    from tests.servers import free_port


@pytest.fixture
def memory_client() -> Iterator[QdrantClient]:
    client = QdrantClient(location=":memory:")
    yield client
    client.close()




class TestQdrantLocalMemoryConformance(ConformanceTests):
    """Local mode in memory: one caller's client shared by the test's stores."""


    @pytest.fixture
    def make_store(self, memory_client: QdrantClient) -> Callable[[], Store]:
        return lambda: open_store(memory_client)


class TestQdrantLocalNamedMemoryConformance(ConformanceTests):
    """``qdrant://:memory:`` with ``name=``: stores of one name share a database; own prefix."""


    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        name = uuid.uuid4().hex
        return lambda: open_store("qdrant://:memory:", name=name, prefix="mem")


# ============================================================================ local mode on disk
class TestQdrantLocalDiskPersistence:
    """On disk only where persistence is the point: local mode commits every point."""

    def test_data_survives_closing_and_reopening(self, tmp_path: Path) -> None:
        url = f"qdrant:///{tmp_path}/db"
        with open_store(url) as store:
            store.ensure_collection("docs", 3, "dot", "model-x")
            store.upsert("docs", [Record("a", "alpha", [1.0, 2.0, 3.0], {"k": "v"})])
            store.append_messages("s", [{"n": 1}, {"n": 2}])
            store.kv_mset("kv", {"key": b"\x00\xff"})
        with open_store(url) as again:  # the directory lock was released by close()
            info = again.collection_info("docs")
            assert info is not None
            assert (info.dimension, info.metric, info.embedding_model) == (3, "dot", "model-x")
            (rec,) = again.get("docs", ["a"])
            assert (rec.text, rec.metadata, rec.vector) == ("alpha", {"k": "v"}, [1.0, 2.0, 3.0])
            assert again.get_messages("s", last_n=1) == [{"n": 2}]
            assert again.kv_mget("kv", ["key"]) == [b"\x00\xff"]
            assert again.capabilities.persistent and not again.capabilities.native_async

    def test_stores_over_one_directory_share_one_client(self, tmp_path: Path) -> None:
        url = f"qdrant:///{tmp_path}/db"
        one, two = open_store(url), open_store(url)
        try:
            one.upsert("c", [Record("x", "", [1.0, 0.0], {})])
            assert two.count("c") == 1
            one.close()
            assert two.count("c") == 1  # still open: the last store closes the client
        finally:
            one.close()
            two.close()
        client = QdrantClient(path=f"{tmp_path}/db")  # unlocked now
        client.close()

    def test_relative_and_absolute_paths(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with open_store("qdrant:///rel/dir") as store:
            store.kv_mset("kv", {"a": b"1"})
        assert (tmp_path / "rel" / "dir").is_dir()
        with open_store(f"qdrant:///{tmp_path}/rel/dir") as store:  # the same, absolute
            assert store.kv_mget("kv", ["a"]) == [b"1"]


# ============================================================================ URLs and options
def test_url_forms() -> None:
    assert parse_url("qdrant://db.example:7000") == QdrantTarget("server", "http://db.example:7000")
    assert parse_url("qdrants://db.example").url == "https://db.example:6333"
    t = parse_url("qdrants://:k%40y@db.example:443?prefer_grpc=true&timeout=3")
    assert t.url == "https://db.example:443"
    assert t.options == {"api_key": "k@y", "prefer_grpc": "true", "timeout": "3"}
    assert parse_url("qdrant://[::1]:6333").url == "http://[::1]:6333"
    assert parse_url("qdrant://:memory:").mode == "memory"
    assert parse_url("qdrant:///:memory:").mode == "memory"
    t = parse_url("qdrant:////abs/dir")
    assert (t.mode, t.path) == ("path", "/abs/dir")
    assert parse_url("qdrant:///rel/dir").path == os.path.abspath("rel/dir")
    for bad in ("redis://x", "qdrant://", "qdrant://host:6333/path", "qdrants:///dir",
                "qdrants://:memory:", "qdrant:///", "qdrant://host:notaport"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)


def test_options_are_checked_before_connecting() -> None:
    nowhere = f"qdrant://127.0.0.1:{free_port()}"
    for options, word in (
        ({"batch_size": 0}, "batch_size"),
        ({"prefix": "no spaces"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"keyword_search": "maybe"}, "keyword_search"),
        ({"hnsw_ef": -1}, "hnsw_ef"),
        ({"prefer_grpc": "perhaps"}, "prefer_grpc"),
        ({"url": "http://elsewhere"}, "url"),
        ({"name": "x"}, "name"),  # applies to :memory: only
    ):
        with pytest.raises(ConfigurationError, match=word):
            open_store(nowhere, **options)
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store("qdrant://:memory:", socket_timeout=3)
    client = QdrantClient(location=":memory:")
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(client, api_key="x")
    client.close()


def test_mask_url() -> None:
    assert mask_url("qdrants://:s3cret@h:1") == "qdrants://:***@h:1"
    assert "s3cret" not in mask_url("qdrant://h:1?api_key=s3cret&prefix=a")
    assert mask_url("qdrant://h:1") == "qdrant://h:1"


@pytest.mark.parametrize("grpc", [False, True])
def test_unreachable_server_raises_unavailable_with_the_key_masked(grpc: bool) -> None:
    port = free_port()
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"qdrants://:s3cret-key@127.0.0.1:{port}", prefer_grpc=grpc, grpc_port=port)
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "s3cret-key" not in text
    assert isinstance(info.value, ConnectionError)
    assert time.monotonic() - began < 10


def test_server_mode_clients_are_closed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server store asks the version once and closes the clients it made (never a
    caller's). No server runs here: the client's HTTP calls are answered in-process."""
    from qdrant_client.http import models as http_models

    closed: list[QdrantClient] = []  # clients of this URL closed (held, so never collected)
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(
        QdrantClient, "info",
        lambda self: http_models.VersionInfo(title="qdrant", version="1.16.3", commit=None),
    )
    real_close = QdrantClient.close

    def close(self: QdrantClient, **kw: object) -> None:
        if self.init_options.get("url") == url and not any(c is self for c in closed):
            closed.append(self)
        real_close(self)

    monkeypatch.setattr(QdrantClient, "close", close)
    with pytest.raises(ConfigurationError, match=r"1\.16\.3.*1\.17"):
        open_store(url.replace("http", "qdrant"))
    assert len(closed) == 1  # the refused store closed the client it had made
    monkeypatch.setattr(
        QdrantClient, "info",
        lambda self: http_models.VersionInfo(title="qdrant", version="1.17.0", commit=None),
    )
    store = open_store(url.replace("http", "qdrant"))
    assert store.capabilities.native_async and store.capabilities.persistent
    assert len(closed) == 1
    store.close()
    store.close()
    assert len(closed) == 2


# ============================================================================ names, ids, payloads
def test_names_and_ids_map_deterministically(memory_client: QdrantClient) -> None:
    store = open_store(memory_client)
    name = "Robert'); DROP ../x"
    store.upsert(name, [Record("ID 1/ü", "t", [1.0, 0.0], {"id": "other", "f": {"e": 1}})])
    qnames = [c.name for c in memory_client.get_collections().collections]
    assert qnames == [record_collection("bruno", name)]
    assert all(ch.isalnum() or ch == "_" for ch in qnames[0])
    (point,) = memory_client.retrieve(qnames[0], [record_point_id("ID 1/ü")], with_payload=True)
    assert str(uuid.UUID(str(point.id))) == record_point_id("ID 1/ü")
    assert point.payload["id"] == "ID 1/ü"
    # User keys live under "metadata": a key named "id" or "f" reaches nothing else.
    (rec,) = store.get(name, ["ID 1/ü"])
    assert (rec.id, rec.metadata) == ("ID 1/ü", {"id": "other", "f": {"e": 1}})
    assert store.count(name, filter={"id": "ID 1/ü"}) == 0
    assert store.count(name, filter={"id": "other"}) == 1
    assert store.list_collections() == [name]
    store.close()
    assert memory_client.get_collections().collections  # the caller's client is still open


def test_cosine_vectors_come_back_unnormalised(memory_client: QdrantClient) -> None:
    store = open_store(memory_client)
    store.upsert("c", [Record("a", "", [3.0, 4.0], {}), Record("z", "", [0.0, 0.0], {})])
    got = {r.id: r.vector for r in store.get("c", ["a", "z"])}
    assert got["a"] == pytest.approx([3.0, 4.0], abs=1e-5)
    assert got["z"] == [0.0, 0.0]
    (hit,) = store.search("c", [6.0, 8.0], k=1, include_vectors=True)
    assert hit.record.vector == pytest.approx([3.0, 4.0], abs=1e-5)
    assert hit.score == pytest.approx(1.0, abs=1e-6)


def test_foreign_collection_with_our_name_is_refused(memory_client: QdrantClient) -> None:
    from qdrant_client import models

    memory_client.create_collection(
        record_collection("bruno", "taken"),
        vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE),
    )
    store = open_store(memory_client)
    with pytest.raises(BackendError, match="metadata"):
        store.collection_info("taken")
    assert store.list_collections() == []


def test_bad_cursor_and_batches_beyond_request_limits(memory_client: QdrantClient) -> None:
    store = open_store(memory_client, batch_size=7)
    recs = [Record(f"r{i}", "", [1.0, float(i)], {"i": i}) for i in range(2500)]
    store.upsert("c", recs)
    assert store.count("c") == 2500
    got = store.get("c", [r.id for r in recs])  # > ID_BATCH ids: several retrieve requests
    assert [r.id for r in got] == [r.id for r in recs]
    assert store.delete("c", [r.id for r in recs[:1500]] + ["missing"]) == 1500
    with pytest.raises(InvalidInputError, match="cursor"):
        store.scan("c", cursor="not-a-cursor")


def test_keyword_search_can_be_switched_off(memory_client: QdrantClient) -> None:
    store = open_store(memory_client, keyword_search=False)
    assert not store.capabilities.keyword_search and not store.capabilities.hybrid_search
    store.upsert("c", [Record("a", "brown fox", [1.0, 0.0], {})])
    with pytest.raises(NotSupportedError):
        store.keyword_search("c", "fox")
    # A collection made with words keeps them for a store that has the option on.
    on = open_store(memory_client, prefix="other")
    on.upsert("c", [Record("a", "brown fox", [1.0, 0.0], {})])
    assert [h.record.id for h in on.keyword_search("c", "FOX")] == ["a"]


def test_async_local_client_of_the_caller() -> None:
    from qdrant_client import AsyncQdrantClient

    client = AsyncQdrantClient(location=":memory:")
    store = open_store(client)
    store.upsert("c", [Record("a", "hello", [1.0, 0.0], {"x": 1})])

    async def use() -> None:
        assert await store.acount("c", filter={"x": 1}) == 1
        await store.aappend_messages("s", [{"m": 1}])
        assert await store.aget_messages("s") == [{"m": 1}]

    asyncio.run(use())
    store.close()
    assert asyncio.run(client.collection_exists(record_collection("bruno", "c")))


# ======================================================================== indexes, O(N) chat
def _spy(store: Store) -> list[Call]:
    backend = store.backend
    calls: list[Call] = []
    real = backend.execute

    def execute(step: Call) -> object:
        calls.append(step)
        return real(step)

    backend.execute = execute  # type: ignore[method-assign]
    return calls


def test_payload_indexes_made_once_per_filtered_field_on_a_server(
    memory_client: QdrantClient,
) -> None:
    """On a server, the first filter on a field makes its payload index (in the
    background), once per field; local mode makes none. Local mode answers here as
    if it were a server (it accepts and ignores the index requests)."""
    store = open_store(memory_client)
    calls = _spy(store)
    store.upsert("c", [Record("a", "", [1.0, 0.0], {"k": "v", "n": 1})])
    store.count("c", filter={"k": "v", "n": {"$gt": 0}})
    assert not [c for c in calls if c.method == "create_payload_index"]  # local: none

    store.backend._conn.local = False  # type: ignore[attr-defined]  # behave as a server
    calls.clear()
    with pytest.warns(UserWarning, match="no effect in the local"):
        store.count("c", filter={"k": "v", "n": {"$gt": 0}, "t": {"$contains": 2}})
        store.search("c", [1.0, 0.0], filter={"k": {"$in": ["v", "w"]}})
    made = {c.kwargs["field_name"]: c.kwargs["field_schema"] for c in calls
            if c.method == "create_payload_index"}
    assert made == {
        f"f.s{key_hash('k')}": models.PayloadSchemaType.KEYWORD,
        f"f.n{key_hash('n')}": models.PayloadSchemaType.FLOAT,
        f"f.ln{key_hash('t')}": models.PayloadSchemaType.FLOAT,
    }
    assert all(c.kwargs["wait"] is False for c in calls if c.method == "create_payload_index")


def test_reading_the_last_messages_costs_o_n(memory_client: QdrantClient) -> None:
    store = open_store(memory_client)
    store.append_messages("long", [{"i": i} for i in range(600)])
    calls = _spy(store)
    assert store.get_messages("long", last_n=3) == [{"i": 597}, {"i": 598}, {"i": 599}]
    ids = [i for c in calls if c.method == "retrieve" for i in c.kwargs["ids"]]
    assert len(ids) == 1 + 3  # the session's length, then exactly the three messages
    assert not [c for c in calls if c.method in ("scroll", "count", "query_points")]


def test_last_messages_read_past_places_never_written(memory_client: QdrantClient) -> None:
    """An append that claimed places and died leaves a gap; last_n still returns n."""
    store = open_store(memory_client)
    store.append_messages("s", [{"i": 0}, {"i": 1}, {"i": 2}])
    store.append_messages("s", [{"i": 3}, {"i": 4}])
    qname = chat_collection("bruno")
    memory_client.delete(qname, [chat_message_id("default", "s", 3)])  # a lost message
    assert store.get_messages("s", last_n=2) == [{"i": 2}, {"i": 4}]
    assert store.get_messages("s") == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 4}]


# ============================================================================ translator
def test_translator_output_and_constants() -> None:
    h = key_hash("a.b")
    flt = to_qdrant_filter(parse_filter({"a.b": "x"}))
    assert flt == models.Filter(must=[models.FieldCondition(
        key=f"f.s{h}", match=models.MatchValue(value="x"))])
    flt = to_qdrant_filter(parse_filter({"a.b": {"$ne": 1.5}}))
    assert flt == models.Filter(must_not=[models.FieldCondition(
        key=f"f.n{h}", range=models.Range(gte=1.5, lte=1.5))])
    assert to_qdrant_filter(None) is True
    assert to_qdrant_filter(parse_filter({"x": {"$in": ["a", "b"]}})) == models.Filter(
        must=[
            models.FieldCondition(
                key=f"f.s{key_hash('x')}", match=models.MatchAny(any=["a", "b"])
            )
        ]
    )
    assert to_qdrant_filter(parse_filter({"x": {"$exists": True}})) == models.Filter(
        must=[models.FieldCondition(key="f.e", match=models.MatchValue(value=key_hash("x")))])
    with pytest.raises(FilterError, match="2\\*\\*53"):
        to_qdrant_filter(parse_filter({"x": {"$lt": 2**60}}))
    plan = index_plan(parse_filter({"$or": [{"x": True}, {"y": {"$exists": False}}]}))
    assert plan.fields == {f"f.b{key_hash('x')}": models.PayloadSchemaType.BOOL,
                           "f.e": models.PayloadSchemaType.KEYWORD}


def test_filter_fields_keep_kinds_apart() -> None:
    h = key_hash
    fields = filter_fields({"s": "1", "n": 1, "b": True, "z": None, "o": {"a": 1},
                            "l": ["a", 1, 2.5, True, [1], {"x": 1}]})
    assert fields == {
        f"s{h('s')}": "1", f"n{h('n')}": 1, f"b{h('b')}": True,
        f"ls{h('l')}": ["a"], f"ln{h('l')}": [1, 2.5], f"lb{h('l')}": [True],
        "e": [h("s"), h("n"), h("b"), h("o"), h("l")],
    }


def test_importing_the_package_imports_no_qdrant() -> None:
    code = (
        "import sys, bruno_memory_integrations, bruno_memory_integrations.registry; "
        "sys.exit(any(m.startswith(('qdrant_client', 'qdrant_edge')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
