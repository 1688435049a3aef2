"""The SQLite backend: the conformance suite on a file and in memory, plus SQLite's own duties.

Everything runs on real SQLite (the stdlib ``sqlite3``; ``pysqlite3`` for the
sqlite-vec engine when installed). Multi-process tests start their own writers.
"""

from __future__ import annotations

import gc
import multiprocessing
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import Record, Store, errors, open_store
from bruno_memory_integrations.backends.sqlite import SQLiteBackend, sqlite_vec_available
from bruno_memory_integrations.backends.sqlite import options as sqlite_config
from bruno_memory_integrations.backends.sqlite.connection import parse_sqlite_url
from bruno_memory_integrations.backends.sqlite.schema import SCHEMA_VERSION
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import random_vector, unit

needs_sqlite_vec = pytest.mark.skipif(
    not sqlite_vec_available(),
    reason="sqlite-vec engine unavailable: needs the sqlite-vec package and a sqlite3 "
    "that can load extensions (e.g. pysqlite3-binary)",
)


def _backend(store: Store) -> SQLiteBackend:
    assert isinstance(store.backend, SQLiteBackend)
    return store.backend


# ============================================================================ conformance
class TestSQLiteFileConformance(ConformanceTests):
    """A database file, the default options (numpy k-NN with the vector cache)."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: open_store(f"sqlite:///{tmp_path}/conformance.db")


class TestSQLiteMemoryConformance(ConformanceTests):
    """``sqlite://:memory:``; ``name=`` makes every store of the test share one database."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        name = uuid.uuid4().hex
        return lambda: open_store("sqlite://:memory:", name=name)


class TestSQLiteNoCacheConformance(ConformanceTests):
    """The numpy engine reading vectors from SQLite on every search."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: open_store(
            f"sqlite:///{tmp_path}/nocache.db", knn="numpy", cache_vectors=False
        )


@needs_sqlite_vec
class TestSQLiteVecConformance(ConformanceTests):
    """The sqlite-vec engine (pysqlite3 where the stdlib sqlite3 cannot load extensions)."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: open_store(f"sqlite:///{tmp_path}/vec.db", knn="sqlite-vec")


# ============================================================================ URLs and options
@pytest.mark.parametrize(
    "url, path, options",
    [
        ("sqlite:///rel.db", "rel.db", {}),
        ("sqlite:///dir/rel.db", "dir/rel.db", {}),
        ("sqlite:////abs/path.db", "/abs/path.db", {}),
        ("sqlite://:memory:", None, {}),
        ("sqlite:///:memory:", None, {}),
        ("sqlite://", None, {}),
        ("sqlite:///x.db?timeout=2&knn=numpy", "x.db", {"timeout": "2", "knn": "numpy"}),
    ],
)
def test_url_forms(url: str, path: str | None, options: dict[str, str]) -> None:
    parsed = parse_sqlite_url(url)
    assert (parsed.path, parsed.options) == (path, options)


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite:///", "postgresql:///x"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(errors.ConfigurationError):
        parse_sqlite_url(url)


def test_relative_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db") as store:
        store.kv_mset("c", {"k": b"v"})
    assert (tmp_path / "rel.db").exists()
    with open_store(f"sqlite:///{tmp_path / 'rel.db'}") as store:  # "sqlite:////abs/rel.db"
        assert store.kv_mget("c", ["k"]) == [b"v"]


@pytest.mark.parametrize(
    "options",
    [{"knn": "faiss"}, {"timeout": "soon"}, {"timeout": -1}, {"cache_vectors": "maybe"},
     {"synchronous": "sometimes"}, {"colour": "blue"}],
)
def test_bad_options(tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(errors.ConfigurationError):
        open_store(f"sqlite:///{tmp_path}/x.db", **options)


def test_name_option_is_for_memory_only(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError):
        open_store(f"sqlite:///{tmp_path}/x.db", name="shared")


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match="cannot open"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_capabilities(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        caps = store.capabilities
        assert (caps.keyword_search, caps.hybrid_search, caps.ttl, caps.native_async) == (
            True, True, True, False)
        assert caps.nested_metadata and caps.persistent
    with open_store("sqlite://:memory:") as mem:
        assert mem.capabilities.persistent is False
    assert SQLiteBackend.capabilities.persistent is True  # the class flag is untouched


# ============================================================================ file, WAL, schema
def _downgrade_to_version_1(path: Path) -> None:
    """Make a file look as version 1 wrote it: no expiry columns, no expiry indexes."""
    con = sqlite3.connect(path)
    try:
        for table in ("bruno_records", "bruno_messages", "bruno_kv"):
            short = table.removeprefix("bruno_")
            con.execute(f"DROP INDEX IF EXISTS bruno_{short}_expiry")
            con.execute(f"ALTER TABLE {table} DROP COLUMN expires_at")
        con.execute("UPDATE bruno_meta SET value = '1' WHERE key = 'schema_version'")
        con.commit()
    finally:
        con.close()


def test_version_1_file_is_upgraded_for_ttl(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with open_store(f"sqlite:///{path}") as store:
        store.upsert("c", [Record("a", "alpha", unit([1.0, 0.0]), {"n": 1})])
        store.append_messages("s", [{"m": 1}])
        store.kv_mset("kv", {"k": b"v"})
    _downgrade_to_version_1(path)
    with open_store(f"sqlite:///{path}") as store:
        assert [r.id for r in store.get("c", ["a"])] == ["a"]
        assert store.get_messages("s") == [{"m": 1}]
        assert store.kv_mget("kv", ["k"]) == [b"v"]
        store.upsert("c", [Record("b", "beta", unit([0.0, 1.0]), {})], ttl=0.2)
        store.kv_mset("kv", {"t": b"x"}, ttl=0.2)
        assert store.count("c") == 2
        time.sleep(0.4)
        assert store.count("c") == 1 and store.kv_keys("kv") == ["k"]
        assert store.purge_expired() == 2
    con = sqlite3.connect(path)
    try:
        row = con.execute("SELECT value FROM bruno_meta WHERE key = 'schema_version'").fetchone()
        assert row == (str(SCHEMA_VERSION),) == ("2",)
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"bruno_records_expiry", "bruno_messages_expiry", "bruno_kv_expiry"} <= indexes
    finally:
        con.close()


def test_expiry_probe_uses_the_partial_index(tmp_path: Path) -> None:
    """Reads ask "anything expired here?" with one index probe, not a table scan."""
    from bruno_memory_integrations.backends.sqlite import query as q

    with open_store(f"sqlite:///{tmp_path}/p.db") as store:
        store.upsert("c", [Record("a", "x", unit([1.0, 0.0]), {})])
    con = sqlite3.connect(tmp_path / "p.db")
    try:
        rows = con.execute(f"EXPLAIN QUERY PLAN {q.ANY_EXPIRED}", ("c", 1.0))
        plan = " ".join(str(r) for r in rows)
        assert "bruno_records_expiry" in plan
    finally:
        con.close()


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with open_store(f"sqlite:///{path}") as store:
        store.upsert("c", [Record("a", "x", unit([1.0, 0.0]), {})])
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = con.execute("SELECT value FROM bruno_meta WHERE key = 'schema_version'").fetchone()
        assert row == (str(SCHEMA_VERSION),)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"bruno_collections", "bruno_records", "bruno_record_data", "bruno_records_fts",
                "bruno_messages", "bruno_kv", "bruno_meta"} <= tables
    finally:
        con.close()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}").close()
    con = sqlite3.connect(path)
    con.execute(
        "UPDATE bruno_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    con.commit()
    con.close()
    with pytest.raises(errors.ConfigurationError, match="newer"):
        open_store(f"sqlite:///{path}")


def test_reopen_after_close_keeps_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/keep.db"
    recs = [Record(f"r{i}", f"note number {i}", random_vector(random.Random(i), 4), {"i": i})
            for i in range(5)]
    with open_store(url) as store:
        store.upsert("notes", recs, embedding_model="m1")
        store.append_messages("s1", [{"type": "human", "data": {"content": "hi"}}])
        store.kv_mset("docs", {"d1": b"\x00\xffbytes"})
        assert _backend(store)._source.open_connections >= 1
    assert _backend(store)._source.open_connections == 0
    with open_store(url) as again:
        info = again.collection_info("notes")
        assert info is not None and (info.dimension, info.embedding_model) == (4, "m1")
        assert [r.id for r in again.get("notes", ["r4", "r0"])] == ["r4", "r0"]
        assert again.search("notes", recs[2].vector or [], k=1)[0].record.id == "r2"
        assert [h.record.id for h in again.keyword_search("notes", "number 3")] == ["r3"]
        assert again.get_messages("s1") == [{"type": "human", "data": {"content": "hi"}}]
        assert again.kv_mget("docs", ["d1"]) == [b"\x00\xffbytes"]


def test_works_with_stdlib_sqlite3_without_extension_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default engine needs no extension: it must run on a sqlite3 that cannot load any."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        monkeypatch.delattr(sqlite3.Connection, "enable_load_extension")
    with open_store(f"sqlite:///{tmp_path}/std.db", knn="auto") as store:
        assert _backend(store)._source.driver is sqlite3
        assert _backend(store).knn.name == "numpy"
        store.upsert("c", [Record("a", "alpha beta", unit([1.0, 0.0]), {"t": 1})])
        assert store.search("c", [1.0, 0.0], k=1, filter={"t": 1})[0].record.id == "a"
        assert store.keyword_search("c", "beta")[0].record.id == "a"


def test_sqlite_vec_missing_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_config, "sqlite_vec_available", lambda: False)
    with pytest.raises(errors.MissingDependencyError, match="sqlite-vec"):
        open_store(f"sqlite:///{tmp_path}/v.db", knn="sqlite-vec")


# ============================================================================ concurrency
def _process_writer(url: str, worker: int, rounds: int, start_at: float) -> int:
    """One writer process: records, chat messages and key-value items, many small batches."""
    while time.time() < start_at:  # start every process together, for real contention
        time.sleep(0.001)
    rng = random.Random(worker)
    with open_store(url) as store:  # the default timeout
        for j in range(rounds):
            store.upsert("shared", [
                Record(f"w{worker}-{j}-{i}", f"worker {worker} round {j}", random_vector(rng, 8),
                       {"worker": worker, "round": j})
                for i in range(5)
            ])
            store.append_messages(
                "shared-session", [{"w": worker, "j": j, "k": k} for k in range(2)]
            )
            store.kv_mset("kv", {f"w{worker}-{j}-{i}": f"{worker}/{j}".encode() for i in range(3)})
            if j % 10 == 9:  # deletes and reads interleaved with the other writers
                store.delete("shared", [f"w{worker}-{j}-0"])
                store.search("shared", random_vector(rng, 8), k=3, filter={"worker": worker})
    return worker


def test_many_processes_write_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/multi.db"
    workers, rounds = 4, 40
    ctx = multiprocessing.get_context("spawn")  # no inherited SQLite state
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        start_at = time.time() + 2.0  # leaves time for the interpreters to start
        futures = [pool.submit(_process_writer, url, w, rounds, start_at) for w in range(workers)]
        assert sorted(f.result(timeout=120) for f in futures) == list(range(workers))
    with open_store(url) as store:
        deleted = {f"w{w}-{j}-0" for w in range(workers) for j in range(rounds) if j % 10 == 9}
        expected = {
            f"w{w}-{j}-{i}" for w in range(workers) for j in range(rounds) for i in range(5)
        }
        ids = {r.id for r in store.iter_records("shared", batch_size=250)}
        assert ids == expected - deleted
        assert store.count("shared", filter={"worker": 2}) == rounds * 5 - len(deleted) // workers
        messages = store.get_messages("shared-session")
        assert len(messages) == workers * rounds * 2
        for w in range(workers):  # each writer's messages kept in its own order
            mine = [(m["j"], m["k"]) for m in messages if m["w"] == w]
            assert mine == [(j, k) for j in range(rounds) for k in range(2)]
        assert len(store.kv_keys("kv")) == workers * rounds * 3
        assert len(store.keyword_search("shared", "worker 3 round 7", k=50)) == 5


def test_per_thread_connections_are_tracked_and_closed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/threads.db")
    source = _backend(store)._source
    store.kv_mset("c", {"a": b"1"})
    barrier = threading.Barrier(5)

    def work() -> None:
        assert store.kv_mget("c", ["a"]) == [b"1"]
        barrier.wait()  # all five threads hold a connection at once

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert source.open_connections == 1  # ended threads' connections were closed with them
    ready = threading.Barrier(4)
    release = threading.Event()

    def hold() -> None:
        store.kv_mget("c", ["a"])
        ready.wait()
        release.wait()

    holders = [threading.Thread(target=hold) for _ in range(3)]
    for t in holders:
        t.start()
    ready.wait(timeout=10)
    assert source.open_connections == 4
    store.close()
    assert source.open_connections == 0  # live threads' connections closed too
    store.close()  # idempotent
    release.set()
    for t in holders:
        t.join()


def _close_during_reads(path: Path, pause: float) -> list[str]:
    store = open_store(f"sqlite:///{path}")
    store.upsert("c", [Record(f"r{i}", "some text", unit([1.0, float(i)]), {"i": i})
                       for i in range(300)])
    outcomes: list[str] = []
    started = threading.Barrier(5)

    def reader() -> None:
        started.wait()
        try:
            while True:
                store.count("c", filter={"i": {"$gte": 10}})
                store.backend.call(store.backend.scan, "c", None, 300, None, True)  # past the Store
        except errors.StoreClosedError:
            outcomes.append("closed")
        except BaseException as exc:  # noqa: BLE001 - any other error fails the test below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(pause)
    store.close()
    for t in threads:
        t.join(timeout=10)
    return outcomes


def test_close_while_other_threads_are_mid_call(tmp_path: Path) -> None:
    """close() waits for calls in flight; later calls raise StoreClosedError, nothing crashes.

    (Closing a sqlite3 connection another thread is executing on crashes CPython.)
    """
    for round_ in range(5):
        outcomes = _close_during_reads(tmp_path / f"busy{round_}.db", 0.02 * (round_ + 1))
        assert outcomes == ["closed"] * 4


def test_a_held_write_lock_gives_a_typed_error_after_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with open_store(f"sqlite:///{path}", timeout=0.3) as store:
        store.kv_mset("c", {"a": b"1"})
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            t0 = time.monotonic()
            with pytest.raises(errors.BackendError, match="locked"):
                store.kv_mset("c", {"b": b"2"})
            assert 0.25 < time.monotonic() - t0 < 5
            assert store.kv_mget("c", ["a", "b"]) == [b"1", None]  # WAL: reads go on
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.kv_mset("c", {"b": b"2"})
        assert store.kv_mget("c", ["b"]) == [b"2"]


def test_memory_database_is_private_without_a_name() -> None:
    with open_store("sqlite://:memory:") as a, open_store("sqlite://:memory:") as b:
        a.kv_mset("c", {"k": b"1"})
        assert b.kv_mget("c", ["k"]) == [None]


def test_named_memory_database_lives_while_a_store_holds_it() -> None:
    name = uuid.uuid4().hex
    first = open_store("sqlite://:memory:", name=name)
    first.kv_mset("c", {"k": b"1"})
    with open_store("sqlite:///:memory:", name=name) as second:
        assert second.kv_mget("c", ["k"]) == [b"1"]
    first.close()
    with open_store("sqlite://:memory:", name=name) as third:
        assert third.kv_mget("c", ["k"]) == [None]  # the last close freed it


def test_memory_database_from_many_threads() -> None:
    with open_store("sqlite://:memory:") as store:
        store.ensure_collection("c", 4)

        def work(t: int) -> None:
            rng = random.Random(t)
            for j in range(20):
                store.upsert("c", [Record(f"{t}-{j}", "x", random_vector(rng, 4), {"t": t})])
                store.count("c", filter={"t": t})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert store.count("c") == 80


# ============================================================================ from_client
def test_from_client_uses_and_never_closes_the_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "client.db", check_same_thread=False)
    conn.row_factory = sqlite3.Row  # the backend must not depend on the caller's factory
    store = open_store(conn)
    assert store.backend_name == "sqlite" and store.capabilities.persistent
    store.upsert("c", [Record("a", "hello there", unit([1.0, 0.0]), {"k": 1})])
    store.kv_mset("kv", {"x": b"1"})
    assert store.keyword_search("c", "hello")[0].record.id == "a"
    store.close()
    assert conn.execute("SELECT count(*) FROM bruno_records").fetchone()[0] == 1  # still open
    with open_store(f"sqlite:///{tmp_path}/client.db") as other:
        assert other.kv_mget("kv", ["x"]) == [b"1"]
    conn.close()


async def test_from_client_async_runs_in_worker_threads(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    store = open_store(conn)
    assert store.capabilities.persistent is False
    await store.aupsert("c", [Record("a", "x", unit([1.0, 0.0]), {})])
    assert await store.acount("c") == 1
    await store.aclose()
    conn.close()


def test_from_client_joins_an_open_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "tx.db")  # legacy transaction control, the default
    store = open_store(conn)
    store.kv_mset("kv", {"kept": b"1"})
    conn.execute("CREATE TABLE app (x)")
    conn.execute("INSERT INTO app VALUES (1)")  # the caller now has a transaction open
    assert conn.in_transaction
    store.kv_mset("kv", {"joined": b"2"})
    conn.rollback()  # the caller's rollback takes our write with it
    assert store.kv_mget("kv", ["kept", "joined"]) == [b"1", None]
    store.close()
    conn.close()


def test_from_client_wrong_thread_is_a_configuration_error() -> None:
    conn = sqlite3.connect(":memory:")  # check_same_thread=True
    store = open_store(conn)
    caught: list[BaseException] = []

    def other() -> None:
        try:
            store.kv_mget("c", ["a"])
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            caught.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(caught) == 1 and isinstance(caught[0], errors.ConfigurationError)
    assert "check_same_thread=False" in str(caught[0])
    store.close()
    conn.close()


# ============================================================================ k-NN engines
ENGINES = [
    pytest.param({"knn": "numpy", "cache_vectors": True}, id="numpy-cache"),
    pytest.param({"knn": "numpy", "cache_vectors": False}, id="numpy-nocache"),
    pytest.param({"knn": "sqlite-vec"}, id="sqlite-vec", marks=needs_sqlite_vec),
]


def _knn_data(dim: int) -> list[Record]:
    rng = random.Random(99)
    recs = [
        Record(f"v{i:03d}", f"t{i}", [rng.gauss(0, 1) * (1 + i % 3) for _ in range(dim)],
               {"g": i % 4, "odd": i % 2 == 1})
        for i in range(300)
    ]
    for j in range(5):  # exact duplicates: ties must break by id, as in the reference
        recs.append(Record(f"dup{j}", "", list(recs[7].vector or []), {"g": 9, "odd": False}))
    recs.append(Record("zero", "", [0.0] * dim, {"g": 9}))
    return recs


@pytest.mark.parametrize("options", ENGINES)
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_knn_engines_agree_with_the_reference(
    tmp_path: Path, options: dict[str, Any], metric: str
) -> None:
    dim = 24
    recs = _knn_data(dim)
    rng = random.Random(5)
    queries = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(4)] + [
        list(recs[7].vector or [])
    ]
    filters: list[Any] = [None, {"g": {"$in": [1, 2]}}, {"odd": False}, {"g": 9}]
    with open_store(f"sqlite:///{tmp_path}/knn.db", **options) as store, \
            open_store("memory://") as ref:
        for s in (store, ref):
            s.ensure_collection("c", dim, metric)
            s.upsert("c", recs)

        def check() -> None:
            for vec in queries:
                for flt in filters:
                    for k in (1, 6, 400):
                        got = store.search("c", vec, k=k, filter=flt)
                        want = ref.search("c", vec, k=k, filter=flt)
                        assert [h.record.id for h in got] == [h.record.id for h in want]
                        assert [h.score for h in got] == pytest.approx(
                            [h.score for h in want], abs=1e-5
                        )
                        assert [h.distance for h in got] == pytest.approx(
                            [h.distance for h in want], rel=1e-5, abs=1e-5)

        check()
        # Writes between searches: the cache must follow upserts, replacements and deletes.
        changed = [
            Record("v001", "", queries[0], {"g": 1}),
            Record("new", "", queries[1], {"g": 2}),
        ]
        for s in (store, ref):
            s.upsert("c", changed)
            s.delete("c", ["v002", "dup0"])
            s.delete("c", filter={"g": 3})
        check()


def test_vector_cache_sees_writes_from_another_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    with open_store(url) as reader, open_store(url) as writer:
        writer.upsert("c", [Record("a", "", [1.0, 0.0], {}), Record("b", "", [0.0, 1.0], {})])
        assert reader.search("c", [1.0, 0.1], k=1)[0].record.id == "a"  # cache built here
        writer.upsert("c", [Record("a", "", [0.0, -1.0], {})])  # moved away
        assert reader.search("c", [1.0, 0.1], k=1)[0].record.id == "b"
        writer.delete("c", ["b"])
        writer.upsert("c", [Record("c", "", [1.0, 0.05], {})])
        assert [h.record.id for h in reader.search("c", [1.0, 0.1], k=5)] == ["c", "a"]
        writer.drop_collection("c")
        writer.upsert("c", [Record("z", "", [1.0, 0.0], {})])  # same name, new collection
        assert [h.record.id for h in reader.search("c", [1.0, 0.1], k=5)] == ["z"]


def test_vector_cache_compacts_after_many_deletes(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/compact.db") as store:
        rng = random.Random(1)
        recs = [Record(f"r{i:03d}", "", random_vector(rng, 6), {"i": i}) for i in range(200)]
        store.upsert("c", recs)
        store.search("c", recs[0].vector or [], k=1)
        for start in range(0, 180, 20):  # delete in steps, searching in between
            store.delete("c", [r.id for r in recs[start:start + 20]])
            hits = store.search("c", recs[start + 25].vector or [], k=3)
            assert hits[0].record.id == recs[start + 25].id
        snap = next(iter(_backend(store).knn.cache._entries.values()))  # type: ignore[union-attr]
        assert snap.live == 20 and snap.n < 100  # dead rows were dropped from memory


# ============================================================================ keyword search
def test_keyword_search_uses_exactly_the_reference_words(tmp_path: Path) -> None:
    """Words are runs of letters and digits as Python sees them, whatever the script."""
    texts = [
        "cafe\u0301 au lait",  # a decomposed accent splits the word, as in text.tokenize
        "café au lait",
        "rust\U0001f980lang is fun",  # an emoji SQLite 3.40 calls a letter
        "snake_case and kebab-case",
        "x\ue000y private use",
        "Straße ΣΑΣ İstanbul",
        "数据库 全文 检索",
        "e-mail: someone@example.org",
        "NEAR AND OR NOT are words here",
        "x²y ½",
    ]
    queries = ["cafe", "café", "rust", "lang", "snake", "case", "kebab", "x", "y", "strasse",
               "straße", "σας", "i̇stanbul", "istanbul", "数据库", "example org", "near and",
               "or", "x²y", "½", "au lait", "CAFÉ AU"]
    rng = random.Random(2)
    recs = [Record(f"t{i}", t, random_vector(rng, 4), {}) for i, t in enumerate(texts)]
    with open_store(f"sqlite:///{tmp_path}/kw.db") as store, open_store("memory://") as ref:
        for s in (store, ref):
            s.upsert("c", recs)
        for query in queries:
            got = {h.record.id for h in store.keyword_search("c", query, k=20)}
            want = {h.record.id for h in ref.keyword_search("c", query, k=20)}
            assert got == want, query


def test_keyword_index_follows_replacements_and_deletes(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/kw2.db") as store:
        store.upsert(
            "c", [Record("a", "old words", [1.0, 0.0], {}), Record("b", "old", [0.0, 1.0], {})]
        )
        store.upsert("c", [Record("a", "new words", [1.0, 0.0], {})])
        assert [h.record.id for h in store.keyword_search("c", "old")] == ["b"]
        assert [h.record.id for h in store.keyword_search("c", "new")] == ["a"]
        store.delete("c", filter={})
        assert store.keyword_search("c", "new") == []
        store.upsert("c", [Record("z", "zebra", [1.0, 0.0], {})])
        store.drop_collection("c")
        with sqlite3.connect(f"{tmp_path}/kw2.db") as con:
            assert con.execute("SELECT count(*) FROM bruno_records_fts").fetchone()[0] == 0
            assert con.execute("SELECT count(*) FROM bruno_record_data").fetchone()[0] == 0


def test_keyword_relevance_prefers_more_matches(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/kw3.db") as store:
        rng = random.Random(3)
        texts = [
            "apple banana cherry date elder fig grape",
            "apple apple apple",
            "banana only here",
        ]
        store.upsert(
            "c", [Record(f"d{i}", t, random_vector(rng, 4), {}) for i, t in enumerate(texts)]
        )
        hits = store.keyword_search("c", "apple", k=5)
        assert [h.record.id for h in hits] == ["d1", "d0"]
        assert 1.0 > hits[0].score > hits[1].score > 0.0


# ============================================================================ stored exactly
def test_tricky_metadata_keys_filter_exactly(tmp_path: Path) -> None:
    keys = ['q"uote', "it's", "a.b", "a$dollar", "[0]", "back\\slash", "tab\tkey", "ü $.\"[x]",
            "new\nline", "*"]
    with open_store(f"sqlite:///{tmp_path}/keys.db") as store:
        rng = random.Random(4)
        store.upsert("c", [
            Record(f"r{i}", "", random_vector(rng, 4), {key: i, "list " + key: [key, i]})
            for i, key in enumerate(keys)
        ])
        for i, key in enumerate(keys):
            assert [r.id for r in store.scan("c", filter={key: i}).records] == [f"r{i}"]
            assert store.count("c", filter={key: {"$exists": True}}) == 1
            assert store.count("c", filter={key: {"$ne": i}}) == len(keys) - 1
            assert store.count("c", filter={"list " + key: {"$contains": key}}) == 1
            assert store.count("c", filter={"list " + key: {"$contains": i}}) == 1
        got = store.get("c", ["r0"])[0]
        assert got.metadata == {keys[0]: 0, "list " + keys[0]: [keys[0], 0]}


def test_kv_prefix_edges(tmp_path: Path) -> None:
    keys = ["a", "a\U0010ffff", "a\U0010ffffz", "a\ud7ffb", "a\ue000", "ab", "b", "\U0010ffff"]
    with open_store(f"sqlite:///{tmp_path}/kvp.db") as store:
        store.kv_mset("c", {k: k.encode("utf-8") for k in keys})
        for prefix in ["a", "a\U0010ffff", "a\ud7ff", "\U0010ffff", "ab", "z"]:
            assert store.kv_keys("c", prefix=prefix) == sorted(
                k for k in keys if k.startswith(prefix)
            )


def test_lone_surrogates_are_refused_and_change_nothing(tmp_path: Path) -> None:
    """Not valid Unicode, so SQLite cannot store them: a typed error, no partial write."""
    with open_store(f"sqlite:///{tmp_path}/u.db") as store:
        store.upsert("c", [Record("ok", "text", [1.0, 0.0], {})])
        bad_writes: list[Callable[[], object]] = [
            lambda: store.upsert("c", [Record("ok", "changed", [1.0, 0.0], {}),
                                       Record("bad\ud800", "t", [1.0, 0.0], {})]),
            lambda: store.upsert("c", [Record("ok", "t\ud800", [1.0, 0.0], {})]),
            lambda: store.upsert("c", [Record("ok", "t", [1.0, 0.0], {"k": "v\udfff"})]),
            lambda: store.kv_mset("kv", {"k\ud800": b"1"}),
            lambda: store.append_messages("s\ud800", [{"a": 1}]),
        ]
        for write in bad_writes:
            with pytest.raises(errors.InvalidInputError, match="surrogate"):
                write()
        (rec,) = store.get("c", ["ok"])
        assert (rec.text, store.count("c"), store.kv_keys("kv")) == ("text", 1, [])


@pytest.mark.skipif(
    hasattr(sqlite3.Connection, "enable_load_extension") or not sqlite_vec_available(),
    reason="needs a stdlib sqlite3 that cannot load extensions, and sqlite-vec installed",
)
def test_from_client_sqlite_vec_needs_extension_loading() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(errors.MissingDependencyError, match="cannot load extensions"):
        open_store(conn, knn="sqlite-vec")
    conn.close()
