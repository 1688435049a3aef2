"""The Milvus backend: conformance on Milvus Lite and on the real C++ standalone server.

The standalone server (PyPI ``milvus``) is started once per test session
(``milvus_url`` in conftest.py; ``BRUNO_TEST_MILVUS_URL`` names your own). Both
engines share one set of Milvus collections per session; every test gets its own
store scope (tests/stores.py), so no test pays for making Milvus collections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")

from bruno_memory_integrations import Record, Store, open_store
from bruno_memory_integrations.testing import ConformanceTests

try:
    from stores import store_url_for
except ImportError:  # tests/ imported as a package
    from tests.stores import store_url_for


class _MilvusStores:
    kind = "milvus"

    @pytest.fixture
    def make_store(
        self, request: pytest.FixtureRequest, tmp_path: object
    ) -> Callable[[], Store]:
        url = store_url_for(self.kind, request, tmp_path)  # type: ignore[arg-type]
        assert url is not None
        return lambda: open_store(url)


class TestMilvusLiteConformance(_MilvusStores, ConformanceTests):
    kind = "milvus-lite"


class TestMilvusServerConformance(_MilvusStores, ConformanceTests):
    """The whole suite on the real server. Every write there is followed by a wait for
    the server's time tick (200 ms) before a read sees it, so the one loop whose cost is
    writes alone runs lighter than on Milvus Lite: every 8th hostile session name (names
    become hashed ids, never query text; 229 s for the whole corpus)."""

    kind = "milvus"
    session_corpus_stride = 8


# ---------------------------------------------------------------- URLs, errors, closing
def test_url_forms_and_masking() -> None:
    from bruno_memory_integrations.backends.milvus.options import mask_url, parse_url

    assert parse_url("milvus://h").uri == "http://h:19530"
    assert parse_url("milvuss://u:p@h:443").uri == "https://h:443"
    assert parse_url("milvuss://u:p@h:443").options == {"user": "u", "password": "p"}
    lite = parse_url("milvus:///x/y.db")
    assert lite.mode == "lite" and lite.uri.endswith("/x/y.db")
    assert mask_url("milvus://u:s3cret@h?token=t0k") == "milvus://u:***@h?token=***"
    from bruno_memory_integrations import ConfigurationError

    for bad in ("milvus://", "milvuss:///x.db", "milvus://h/db", "milvus:///"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)


def test_unreachable_server_raises_unavailable_with_secrets_masked() -> None:
    from bruno_memory_integrations import BackendUnavailableError

    try:
        from servers import free_port
    except ImportError:  # tests/ imported as a package
        from tests.servers import free_port
    port = free_port()
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"milvus://alice:s3cret@127.0.0.1:{port}", token="t0ken-xyz", timeout=2)
    assert "s3cret" not in str(info.value) and "t0ken-xyz" not in str(info.value)


def test_filter_values_cannot_change_an_expression() -> None:
    from bruno_memory_integrations.backends.milvus.filters import string_literal, to_milvus_expr
    from bruno_memory_integrations.filters import parse_filter

    hostile = '" or pk != "" or "\\'
    expr = to_milvus_expr(parse_filter({"k": hostile}))
    assert isinstance(expr, str)
    assert string_literal(hostile) in expr and hostile not in expr.replace(
        string_literal(hostile), ""
    )
    # Keys never appear: only their hashes do.
    assert "evil key" not in str(to_milvus_expr(parse_filter({'evil key"]': 1})))


def test_async_clients_close_with_their_event_loop(request: pytest.FixtureRequest) -> None:
    """An event loop's async client is closed when the loop shuts down, and a new loop
    gets its own (a gRPC channel belongs to the loop that opened it)."""
    store = open_store(request.getfixturevalue("milvus_url"), prefix="loops")
    conn = store.backend._conn  # type: ignore[attr-defined]

    async def use(value: bytes) -> None:
        await store.akv_mset("c", {"a": value})
        assert await store.akv_mget("c", ["a"]) == [value]
        assert conn.open_async_clients == 1

    try:
        asyncio.run(use(b"1"))
        assert conn.open_async_clients == 0
        asyncio.run(use(b"2"))
        assert conn.open_async_clients == 0
    finally:
        store.close()


def test_a_new_collection_loads_while_it_is_written(request: pytest.FixtureRequest) -> None:
    """On a server, a new collection's load starts without waiting; the first read
    waits for it and sees every record written meanwhile."""
    import uuid

    from bruno_memory_integrations.backends.milvus import connection

    store = open_store(request.getfixturevalue("milvus_url"), prefix=f"ld{uuid.uuid4().hex[:8]}")
    try:
        dim = 7  # a new prefix: new physical collections
        records = [Record(str(i), f"text {i}", [float(i + 1)] + [0.5] * (dim - 1), {"i": i})
                   for i in range(50)]
        store.upsert("c", records)
        conn = store.backend._conn  # type: ignore[attr-defined]
        pending = {key for key in connection._LOADING if key[0] == conn.description}
        assert pending, "the records collection's load was waited for at creation"
        hits = store.search("c", records[3].vector or [], k=3, filter={"i": {"$lt": 10}})
        assert hits[0].record.id == "3" and len(hits) == 3
        assert not pending & connection._LOADING  # the read waited, and said so
        assert store.count("c") == 50
    finally:
        store.close()


def test_close_closes_the_clients_it_made(tmp_path: object) -> None:
    store = open_store(f"milvus:///{tmp_path}/c.db")
    store.kv_mset("c", {"a": b"1"})
    store.close()
    store.close()  # idempotent
    from bruno_memory_integrations import StoreClosedError

    with pytest.raises(StoreClosedError):
        store.kv_mget("c", ["a"])
