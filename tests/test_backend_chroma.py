"""The Chroma backend: conformance on the embedded engine and on a real ``chroma run`` server.

The embedded engine (``PersistentClient``) runs in the test process; the server
is started once per test session (``chroma_url`` in conftest.py, tests/servers.py),
or named by ``BRUNO_TEST_CHROMA_URL``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("chromadb", reason="the chroma extra (chromadb) is not installed")

from bruno_memory_integrations import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    InvalidInputError,
    InvalidMetadataError,
    Record,
    Store,
    StoreClosedError,
    open_store,
)
from bruno_memory_integrations.backends.chroma.codec import chat_head_id
from bruno_memory_integrations.backends.chroma.filters import (
    FAN_OUT,
    MAX_LIST_ELEMENTS,
    filter_fields,
    key_hash,
    to_chroma_where,
)
from bruno_memory_integrations.backends.chroma.options import mask_url, parse_url
from bruno_memory_integrations.backends.chroma.query import (
    Call,
    chat_collection,
    record_collection,
)
from bruno_memory_integrations.filters import parse_filter
from bruno_memory_integrations.testing import ConformanceTests

try:
    from servers import ChromaServer, ServerUnavailable, free_port
    from stores import chroma_dir
except ImportError:  # tests/ imported as a package
    from tests.servers import ChromaServer, ServerUnavailable, free_port
    from tests.stores import chroma_dir


class TestChromaEmbeddedConformance(ConformanceTests):
    """The embedded engine on a directory of the test's own."""

    @pytest.fixture
    def make_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
        url = f"chroma:///{chroma_dir(request, tmp_path)}"
        return lambda: open_store(url)


class TestChromaServerConformance(ConformanceTests):
    """A real Chroma server; each test has a collection prefix of its own."""

    @pytest.fixture
    def make_store(self, chroma_url: str) -> Callable[[], Store]:
        prefix = f"t{uuid.uuid4().hex[:12]}"
        return lambda: open_store(chroma_url, prefix=prefix)


# ============================================================================ URLs and options
def test_url_forms() -> None:
    t = parse_url("chroma:////abs/dir")
    assert (t.mode, t.path) == ("path", "/abs/dir")
    assert parse_url("chroma:///rel/dir").path == os.path.abspath("rel/dir")
    t = parse_url("chroma+http://db.example:9000?tenant=t&database=d")
    assert (t.mode, t.host, t.port, t.ssl) == ("server", "db.example", 9000, False)
    assert t.options == {"tenant": "t", "database": "d"}
    t = parse_url("chroma+https://:s%40cret@db.example")
    assert (t.port, t.ssl, t.options) == (443, True, {"token": "s@cret"})
    assert parse_url("chroma+http://[::1]").description == "chroma+http://[::1]:8000"
    for bad in ("redis://x", "chroma://host:8000", "chroma:///", "chroma+http://",
                "chroma+http://h:1/path", "chroma+http://h:notaport", "chroma+grpc://h"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)


def test_options_are_checked_before_connecting(tmp_path: Path) -> None:
    nowhere = f"chroma+http://127.0.0.1:{free_port()}"
    for options, word in (
        ({"batch_size": 0}, "batch_size"),
        ({"prefix": "no spaces"}, "prefix"),
        ({"prefix": "_x"}, "prefix"),
        ({"token_header": "Cookie"}, "token_header"),
        ({"token": ""}, "token"),
        ({"tenant": 3}, "tenant"),
        ({"headers": {"a": 1}}, "headers"),
        ({"socket_timeout": 3}, "unknown options"),
    ):
        with pytest.raises(ConfigurationError, match=word):
            open_store(nowhere, **options)
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(f"chroma:///{tmp_path}/db", token="x")


def test_mask_url() -> None:
    assert mask_url("chroma+https://:s3cret@h:1") == "chroma+https://:***@h:1"
    assert "s3cret" not in mask_url("chroma+http://h:1?token=s3cret&prefix=a")


def test_unreachable_server_raises_unavailable_with_the_token_masked() -> None:
    port = free_port()
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"chroma+http://:s3cret-token@127.0.0.1:{port}")
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "s3cret-token" not in text
    assert isinstance(info.value, ConnectionError)
    assert time.monotonic() - began < 10


def test_importing_the_package_imports_no_chromadb() -> None:
    code = (
        "import sys, bruno_memory_integrations, bruno_memory_integrations.registry; "
        "sys.exit(any(m.startswith('chromadb') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_chroma_program_raises_server_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRUNO_TEST_CHROMA_BIN", str(tmp_path / "no-such-chroma"))
    with pytest.raises(ServerUnavailable, match="BRUNO_TEST_CHROMA_URL"):
        ChromaServer().start()


# ============================================================================ embedded engine
def test_capabilities_say_what_each_form_does(tmp_path: Path, chroma_url: str) -> None:
    with open_store(f"chroma:///{tmp_path}/db") as embedded:
        caps = embedded.capabilities
        assert not caps.native_async and not caps.releases_gil and caps.persistent
        assert caps.nested_metadata and caps.refused_filters == frozenset({"substring"})
    with open_store(chroma_url) as server:
        assert server.capabilities.native_async and server.capabilities.releases_gil


def test_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    url = f"chroma:///{tmp_path}/db"
    with open_store(url) as store:
        store.ensure_collection("docs", 3, "dot", "model-x")
        store.upsert("docs", [Record("a", "alpha", [1.0, 2.0, 3.0], {"k": {"nested": [1]}})])
        store.append_messages("s", [{"n": 1}, {"n": 2}])
        store.kv_mset("kv", {"key": b"\x00\xff"})
    with open_store(url) as again:
        info = again.collection_info("docs")
        assert info is not None
        assert (info.dimension, info.metric, info.embedding_model) == (3, "dot", "model-x")
        (rec,) = again.get("docs", ["a"])
        assert (rec.text, rec.metadata, rec.vector) == ("alpha", {"k": {"nested": [1]}},
                                                        [1.0, 2.0, 3.0])
        assert again.get_messages("s", last_n=1) == [{"n": 2}]
        assert again.kv_mget("kv", ["key"]) == [b"\x00\xff"]


def test_callers_client_is_used_and_never_closed(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    store = open_store(client, prefix="mine")
    store.upsert("c", [Record("a", "", [1.0, 0.0], {})])
    store.close()
    assert [c.name for c in client.list_collections()] == [record_collection("mine", "c")]
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(client, token="x")
    client.close()


def test_names_and_metadata_keys_reach_nothing_else(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    store = open_store(client)
    name = "Robert'); DROP ../x"
    meta = {"#document": 1, "chroma:x": "y", "m": "not the JSON", "x$and": [2.5, "s"]}
    store.upsert(name, [Record("ID 1/ü", "t", [1.0, 0.0], meta)])
    (cname,) = [c.name for c in client.list_collections()]
    assert cname == record_collection("bruno", name)
    (rec,) = store.get(name, ["ID 1/ü"])
    assert rec.metadata == meta
    assert store.count(name, filter={"m": "not the JSON"}) == 1
    assert store.count(name, filter={"x$and": {"$contains": 2.5}}) == 1
    assert store.list_collections() == [name]
    store.close()
    client.close()


def test_foreign_collection_with_our_name_is_refused(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    client.create_collection(record_collection("bruno", "taken"), embedding_function=None)
    store = open_store(client)
    with pytest.raises(BackendError, match="not made by this package"):
        store.collection_info("taken")
    assert store.list_collections() == []
    store.close()
    client.close()


def test_long_metadata_lists_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with open_store(f"chroma:///{tmp_path}/db") as store:
        store.upsert("c", [Record("a", "", [1.0, 0.0], {"tags": ["x"]})])
        too_long = [f"t{i}" for i in range(MAX_LIST_ELEMENTS + 1)]
        with pytest.raises(InvalidMetadataError, match=str(MAX_LIST_ELEMENTS)):
            store.upsert("c", [Record("b", "", [0.0, 1.0], {}),
                               Record("z", "", [0.0, 1.0], {"tags": too_long})])
        assert [r.id for r in store.scan("c").records] == ["a"]
        # At the limit it works (and the collection keeps working).
        store.upsert("c", [Record("z", "", [0.0, 1.0], {"tags": too_long[:-1]})])
        assert store.count("c", filter={"tags": {"$contains": "t4095"}}) == 1


def test_bad_cursor(tmp_path: Path) -> None:
    with open_store(f"chroma:///{tmp_path}/db") as store:
        store.upsert("c", [Record("a", "", [1.0, 0.0], {})])
        for bad in ("x", "-1", "1.5", "\u0661"):  # the last: an Arabic-Indic digit
            with pytest.raises(InvalidInputError, match="cursor"):
                store.scan("c", cursor=bad)


# ============================================================================ requests
def _spy(store: Store) -> list[Call]:
    backend = store.backend
    calls: list[Call] = []
    real = backend.execute

    def execute(step: Call) -> object:
        calls.append(step)
        return real(step)

    backend.execute = execute  # type: ignore[method-assign]
    return calls


def test_reading_the_last_messages_costs_o_n(tmp_path: Path) -> None:
    with open_store(f"chroma:///{tmp_path}/db") as store:
        store.append_messages("long", [{"i": i} for i in range(600)])
        calls = _spy(store)
        assert store.get_messages("long", last_n=3) == [{"i": 597}, {"i": 598}, {"i": 599}]
        ids = [i for c in calls if c.method == "get" for i in c.kwargs.get("ids", [])]
        assert len(ids) == 1 + 1 + 3  # head, the place after it, exactly three messages
        assert all("ids" in c.kwargs for c in calls)  # nothing read by filter


def test_a_head_written_late_hides_nothing(tmp_path: Path) -> None:
    """A slower writer may lower the head; readers look past it."""
    with open_store(f"chroma:///{tmp_path}/db") as store:
        store.append_messages("s", [{"i": 0}, {"i": 1}])
        store.append_messages("s", [{"i": 2}])
        col = store.backend._conn._collections[chat_collection("bruno")]  # type: ignore[attr-defined]
        col.upsert(ids=[chat_head_id("default", "s")], embeddings=[[1.0]],
                   metadatas=[{"kind": "head", "ns": "default", "session": "s", "count": 2}])
        assert store.get_messages("s") == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert store.get_messages("s", last_n=1) == [{"i": 2}]
        store.append_messages("s", [{"i": 3}])
        assert store.get_messages("s", last_n=2) == [{"i": 2}, {"i": 3}]


def test_ingest_beyond_the_servers_batch_limit(chroma_url: str) -> None:
    """One upsert of more records than the client's maximum batch succeeds."""
    import chromadb

    target = parse_url(chroma_url)
    most = chromadb.HttpClient(host=target.host, port=target.port).get_max_batch_size()
    rng = random.Random(1)
    records = [Record(f"r{i}", "", [rng.random() + 0.01, rng.random()], {"i": i})
               for i in range(most + 17)]
    with open_store(chroma_url, prefix=f"t{uuid.uuid4().hex[:12]}") as store:
        calls = _spy(store)
        store.upsert("big", records)
        sizes = [len(c.kwargs["ids"]) for c in calls if c.method == "upsert"]
        assert sizes == [most, 17]
        assert store.count("big") == most + 17
        assert store.count("big", filter={"i": {"$gte": most}}) == 17
        assert store.delete("big", filter={"i": {"$lt": most}}) == most
        store.drop_collection("big")


def test_async_clients_are_closed(chroma_url: str) -> None:
    store = open_store(chroma_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    conn = store.backend._conn  # type: ignore[attr-defined]

    async def use() -> None:
        await store.aupsert("c", [Record("a", "x", [1.0, 0.0], {})])
        assert conn.open_async_clients == 1

    gc.collect()  # what earlier tests left behind is not this test's business
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(use())
        asyncio.run(use())  # a second loop gets a client of its own
        # Each loop's shutdown closed its client: no socket is left to the collector.
        assert conn.open_async_clients == 0
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    store.drop_collection("c")
    # The httpx.Client of the sync HttpClient and of the admin client it made.
    sync = conn._sync
    sessions = [sync._server._session, sync._admin_client._server._session]
    assert not any(s.is_closed for s in sessions)
    store.close()
    assert all(s.is_closed for s in sessions)  # chromadb's close() leaves them open
    assert conn.open_async_clients == 0
    with pytest.raises(StoreClosedError):
        store.count("c")


def test_translator_output() -> None:
    h = key_hash("a.b")
    assert to_chroma_where(parse_filter({"a.b": "x"})) == {f"s{h}": {"$eq": "x"}}
    assert to_chroma_where(parse_filter({"a.b": {"$ne": 1.5}})) == {f"nf{h}": {"$nin": [1.5]}}
    assert to_chroma_where(parse_filter({"a.b": {"$gt": 4.5}})) == {
        "$or": [{f"ni{h}": {"$gt": 4}}, {f"nf{h}": {"$gt": 4.5}}]}
    assert to_chroma_where(parse_filter({"a.b": {"$exists": False}})) == {
        f"k{h}": {"$nin": ["s", "n", "b", "l", "o"]}}
    assert to_chroma_where(None) is True
    with pytest.raises(FilterError, match="substring"):
        to_chroma_where(parse_filter({"x": {"$substring": "a"}}))
    wide = to_chroma_where(parse_filter({"$or": [{"x": i} for i in range(100)]}))
    assert isinstance(wide, dict)
    assert len(wide["$or"]) <= FAN_OUT
    assert filter_fields({"s": "1", "n": 1, "f": 2.0, "b": True, "z": None, "o": {"a": 1},
                          "l": ["a", "a", 1, 2.5, True, [1]]}) == {
        f"s{key_hash('s')}": "1", f"k{key_hash('s')}": "s",
        f"ni{key_hash('n')}": 1, f"k{key_hash('n')}": "n",
        f"ni{key_hash('f')}": 2, f"k{key_hash('f')}": "n",
        f"b{key_hash('b')}": True, f"k{key_hash('b')}": "b",
        f"k{key_hash('o')}": "o",
        f"k{key_hash('l')}": "l", f"ls{key_hash('l')}": ["a"], f"li{key_hash('l')}": [1],
        f"lf{key_hash('l')}": [2.5], f"lb{key_hash('l')}": [True],
    }
