"""The Weaviate backend: conformance on the stand-in, a live suite, and its own behaviour.

No Weaviate server runs here, so these tests use tests/weaviate_standin.py: a local
server built on the client's own generated gRPC servicer classes and the REST
endpoints the client calls (docs/backends/weaviate.md says what that proves). The
live suite runs the whole conformance suite against a real Weaviate when
``WEAVIATE_URL`` (and ``WEAVIATE_API_KEY`` if it needs one) is set.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("weaviate", reason="the weaviate extra (weaviate-client) is not installed")

import grpc
import weaviate
from weaviate.classes.config import DataType, Property
from weaviate.proto.v1 import base_pb2, base_search_pb2, search_get_pb2, weaviate_pb2_grpc

from bruno_memory_integrations import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    Record,
    Store,
    open_store,
)
from bruno_memory_integrations.backends.weaviate import WeaviateBackend, schema
from bruno_memory_integrations.backends.weaviate.filters import (
    ALWAYS,
    NEVER,
    to_weaviate_filter,
    wanted_properties,
)
from bruno_memory_integrations.backends.weaviate.options import parse_settings
from bruno_memory_integrations.filters import matches, parse_filter
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import filter_records, random_vector, unit
from bruno_memory_integrations.types import CollectionInfo

try:
    import weaviate_standin as standin_module
    from servers import free_port
    from weaviate_standin import WeaviateStandIn
except ImportError:  # tests/ imported as a package
    from tests import weaviate_standin as standin_module  # type: ignore[no-redef]
    from tests.servers import free_port  # type: ignore[no-redef]
    from tests.weaviate_standin import WeaviateStandIn  # type: ignore[no-redef]

DIM = 8
LIVE_URL_ENV, LIVE_KEY_ENV = "WEAVIATE_URL", "WEAVIATE_API_KEY"


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _prefix() -> str:
    return f"T{uuid.uuid4().hex[:12]}"


def _recs(n: int, prefix: str = "id", seed: int = 1, dim: int = DIM) -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(
            f"{prefix}{i:04d}", f"text {i}", random_vector(rng, dim), {"i": i, "even": i % 2 == 0}
        )
        for i in range(n)
    ]


@pytest.fixture
def standin() -> Iterator[WeaviateStandIn]:
    """A private stand-in, whose request log a test may read."""
    server = WeaviateStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def store(weaviate_url: str) -> Iterator[Store]:
    s = open_store(weaviate_url, prefix=_prefix())
    yield s
    s.close()


# ============================================================================ conformance

class TestWeaviateConformance(ConformanceTests):
    """The whole conformance suite on the stand-in, through the client's real wire format."""


    @pytest.fixture
    def make_store(self, weaviate_url: str) -> Callable[[], Store]:
        prefix = _prefix()
        return lambda: open_store(weaviate_url, prefix=prefix)


@pytest.mark.live
class TestWeaviateLive(ConformanceTests):
    """The whole conformance suite on a real Weaviate: set WEAVIATE_URL (+ WEAVIATE_API_KEY).

    e.g. ``WEAVIATE_URL=weaviate://localhost:8080`` for ``docker run -p 8080:8080
    -p 50051:50051 cr.weaviate.io/semitechnologies/weaviate``; each run uses its own
    collection-name prefix and drops what it created.
    """


    @pytest.fixture
    def make_store(self) -> Iterator[Callable[[], Store]]:
        url = os.environ.get(LIVE_URL_ENV)
        if not url:
            pytest.skip(
                f"{LIVE_URL_ENV} is not set: the live suite runs against a real Weaviate "
                f"(set {LIVE_URL_ENV}=weaviate://host:8080, and {LIVE_KEY_ENV} if it needs a key)"
            )
        options: dict[str, Any] = {"prefix": _prefix()}
        if os.environ.get(LIVE_KEY_ENV):
            options["api_key"] = os.environ[LIVE_KEY_ENV]
        yield lambda: open_store(url, **options)
        with open_store(url, **options) as s:
            client = s.backend._conn._sync  # type: ignore[attr-defined]
            for name in client.collections.list_all(simple=True):
                if name.startswith(options["prefix"]):
                    client.collections.delete(name)


# ============================================================================ URLs and options
def test_url_forms_and_defaults() -> None:
    st = parse_settings("weaviate://db.example:9090", {"grpc_port": 6000})
    assert (st.http_host, st.http_port, st.secure, st.grpc_host, st.grpc_port) == (
        "db.example", 9090, False, "db.example", 6000,
    )
    st = parse_settings("weaviate://localhost", {})
    assert (st.http_port, st.grpc_port) == (8080, 50051)
    st = parse_settings("weaviates://cluster.example", {"grpc_host": "grpc-cluster.example"})
    assert (st.http_port, st.secure, st.grpc_host, st.grpc_port) == (
        443, True, "grpc-cluster.example", 443,
    )
    st = parse_settings("weaviate://:s3cret@h:1?grpc_port=2&prefix=Mine", {})
    assert (st.api_key, st.grpc_port, st.prefix) == ("s3cret", 2, "Mine")
    assert "s3cret" not in repr(st) and "s3cret" not in st.description


@pytest.mark.parametrize(
    "url, options, match",
    [
        ("weaviate://h", {"grpc_port": 0}, "grpc_port"),
        ("weaviate://h", {"grpc_port": 70000}, "grpc_port"),
        ("weaviate://h", {"prefix": "lower"}, "prefix"),
        ("weaviate://h", {"prefix": "Bad-Name"}, "prefix"),
        ("weaviate://h", {"index": "ivf"}, "index"),
        ("weaviate://h", {"batch_size": 0}, "batch_size"),
        ("weaviate://h", {"timeout": -1}, "timeout"),
        ("weaviate://h", {"no_such": 1}, "unknown options"),
        ("weaviate://h/path", {}, "no path"),
        ("weaviate://h?api_key=x", {}, "query string"),
        ("weaviate://", {}, "needs a host"),
        ("weaviate://h", {"api_key": ""}, "api_key"),
    ],
)
def test_bad_urls_and_options_are_refused_before_connecting(
    url: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        open_store(url, **options)  # nothing listens on "h": refused before connecting


def test_unreachable_server_is_unavailable_with_key_masked() -> None:
    port = free_port()
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"weaviate://:top-s3cret@127.0.0.1:{port}", grpc_port=free_port(),
                   init_timeout=1)
    text = str(info.value)
    assert time.monotonic() - began < 10
    assert "top-s3cret" not in text and f"127.0.0.1:{port}" in text
    assert isinstance(info.value, ConnectionError)


def test_api_key_is_sent_and_a_wrong_one_is_refused_masked() -> None:
    with WeaviateStandIn(api_key="right-key") as server:
        with open_store(server.url, api_key="right-key", prefix=_prefix()) as s:
            s.upsert("c", _recs(2))
            assert s.count("c") == 2
        with pytest.raises(BackendUnavailableError) as info:
            open_store(server.url, api_key="wrong-key-123")
        assert "wrong-key-123" not in str(info.value)
        with pytest.raises(BackendUnavailableError):
            open_store(server.url)  # no key at all


def test_registry_names_the_extra_and_schemes() -> None:
    from bruno_memory_integrations.registry import _ALIASES, available_backends

    entry = available_backends()["weaviate"]
    assert (entry.package, entry.extra, entry.client_modules) == ("weaviate", "weaviate",
                                                                  ("weaviate",))
    assert _ALIASES["weaviates"] == "weaviate"


# ============================================================================ names and ids
def test_collection_names_follow_weaviate_rules_and_never_collide() -> None:
    import re

    names = ["docs", "Docs", "DOCS", "a b", "a_b", "a-b", "", "ü \U0001f600", "x" * 512,
             "Robert'); DROP TABLE x;--", "BrunoChat", "Kv"]
    classes = [schema.vector_class("Bruno", n) for n in names]
    for c in classes:
        assert re.fullmatch(r"[A-Z][_0-9A-Za-z]*", c) and len(c) < 100, c
    assert len({c.lower() for c in classes}) == len(names)  # distinct even ignoring case
    assert schema.chat_class("Bruno") not in classes and schema.kv_class("Bruno") not in classes
    info = CollectionInfo("ü \U0001f600 'x'", 7, "dot", "model")
    assert schema.decode_info(schema.encode_info(info)) == info
    assert schema.decode_info("not json") is None
    assert schema.decode_info('{"bruno": "chat"}') is None


def test_metadata_property_names_are_legal_and_distinct() -> None:
    import re

    keys = ["color", "Color", "COLOR", "a.b", "a_b", "weird key's \"name\"", "$gt", "*", "ü",
            "x" * 300, "id", "_id", "vector"]
    props = {schema.meta_property(k, kind) for k in keys for kind in schema.KINDS}
    assert len(props) == len(keys) * len(schema.KINDS)
    assert len({p.lower() for p in props}) == len(props)
    for p in props:
        assert re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]{0,230}", p) and p == p.lower(), p


def test_object_ids_are_deterministic_and_separate_kinds() -> None:
    a = schema.object_uuid("r", "x")
    assert a == schema.object_uuid("r", "x")
    assert len({a, schema.object_uuid("k", "x"), schema.object_uuid("m", "x", "", 0),
                schema.object_uuid("r", "x\x00"), schema.object_uuid("k", "a", "b"),
                schema.object_uuid("k", "a\", \"b")}) == 6
    assert 0 <= schema.object_key(a) < 2**52


def test_metadata_kinds_split_mixed_lists() -> None:
    md = {"s": "a", "i": 3, "f": 1.5, "b": True, "n": None, "l": ["x", 2, 2.5, False, {"d": 1}],
          "nested": {"a": 1}}
    got = {(k, kind): v for k, kind, v in schema.metadata_properties(md)}
    assert got == {
        ("s", "s"): "|a|", ("i", "i"): 3, ("f", "f"): 1.5, ("b", "b"): True,
        ("l", "ls"): ["|x|"], ("l", "li"): [2], ("l", "lf"): [2.5], ("l", "lb"): [False],
    }


# ============================================================================ filter translation
def _all_props(node: Any) -> set[str]:
    return wanted_properties(node)


def test_filter_translation_constants() -> None:
    assert to_weaviate_filter(None, lambda p: True) is ALWAYS
    spec = parse_filter({"color": "red"})
    assert to_weaviate_filter(spec, lambda p: False) is NEVER
    assert to_weaviate_filter(parse_filter({"color": {"$ne": "red"}}), lambda p: False) is ALWAYS
    # An OR with one impossible side keeps the other.
    both = parse_filter({"$or": [{"color": "red"}, {"i": 3}]})
    only_i = {p for p in _all_props(both) if p.startswith("mi_")}
    out = to_weaviate_filter(both, only_i.__contains__)
    assert out not in (ALWAYS, NEVER)
    assert getattr(out, "target", None) == next(iter(only_i))


def test_range_bounds_on_int_properties_are_exact() -> None:
    def bound(op: str, value: float) -> Any:
        node = parse_filter({"n": {op: value}})
        ip = schema.meta_property("n", "i")
        return to_weaviate_filter(node, {ip}.__contains__)

    assert bound("$gt", 2.5).value == 2 and bound("$gt", 2.5).operator.value == "GreaterThan"
    assert bound("$gte", 2.5).value == 3
    assert bound("$lt", 2.5).value == 3 and bound("$lt", 2.5).operator.value == "LessThan"
    assert bound("$lte", 2.5).value == 2
    with pytest.raises(FilterError, match="2\\*\\*53"):  # beyond a double's integers: refused
        bound("$gt", 1e300)


def test_numbers_a_double_cannot_hold_are_refused_on_float_properties() -> None:
    fp = schema.meta_property("n", "f")
    with pytest.raises(FilterError, match="2\\*\\*53"):
        to_weaviate_filter(parse_filter({"n": 2**53 + 1}), {fp}.__contains__)


def test_every_filter_case_matches_the_reference(store: Store) -> None:
    """Beyond the conformance cases: values of every kind under one key."""
    coll = _name("c")
    rng = random.Random(4)
    values: list[Any] = [1, 1.0, 2.5, "1", True, False, [1, "1"], [1.0], [True], [], None,
                         {"x": 1}, 2**40, -3, "  1  ", "|1|"]
    recs = [Record(f"r{i}", "", random_vector(rng, DIM), {"k": v}) for i, v in enumerate(values)]
    recs.append(Record("none", "", random_vector(rng, DIM), {}))
    store.upsert(coll, recs)
    specs = [
        {"k": 1}, {"k": 1.0}, {"k": "1"}, {"k": True}, {"k": False}, {"k": {"$ne": 1}},
        {"k": {"$gt": 0.5}}, {"k": {"$gte": 1}}, {"k": {"$lt": 2.5}}, {"k": {"$lte": -3}},
        {"k": {"$in": [1, 2.5]}}, {"k": {"$nin": ["1", "  1  "]}}, {"k": {"$exists": True}},
        {"k": {"$exists": False}}, {"k": {"$contains": 1}}, {"k": {"$contains": "1"}},
        {"k": {"$contains": True}}, {"k": "  1  "}, {"k": "|1|"}, {"k": 2**40},
        {"$not": {"k": {"$contains": 1.0}}},
    ]
    for spec in specs:
        want = sorted(r.id for r in recs if matches(spec, r.metadata))
        got = sorted(r.id for r in store.iter_records(coll, filter=spec))
        assert got == want, spec


# ============================================================================ stand-in strictness
def test_standin_refuses_what_it_does_not_implement(standin: WeaviateStandIn) -> None:
    """The stand-in fails loudly on request fields it does not implement, never ignores them."""
    with open_store(standin.url, prefix="Strict") as s:
        s.upsert("c", _recs(3))
        cls = schema.vector_class("Strict", "c")
    channel = grpc.insecure_channel(f"127.0.0.1:{standin.grpc_port}")
    stub = weaviate_pb2_grpc.WeaviateStub(channel)
    try:
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(search_get_pb2.SearchRequest(
                collection=cls, near_text=base_search_pb2.NearTextSearch(query=["x"])))
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(search_get_pb2.SearchRequest(collection=cls, limit=10_001))
        assert "maximum results" in str(info.value.details())
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(search_get_pb2.SearchRequest(
                collection=cls, after=str(uuid.uuid4()),
                filters=base_pb2.Filters(
                    operator=base_pb2.Filters.OPERATOR_EQUAL, on=[schema.KEY], value_int=0)))
        assert "after" in str(info.value.details())
    finally:
        channel.close()


def test_standin_refuses_a_value_of_the_wrong_type(standin: WeaviateStandIn) -> None:
    client = weaviate.connect_to_custom("127.0.0.1", standin.http_port, False, "127.0.0.1",
                                        standin.grpc_port, False)
    try:
        coll = client.collections.create("Typed", properties=[
            Property(name="n", data_type=DataType.INT)])
        res = coll.data.insert_many([{"n": "not a number"}, {"n": 3}])
        assert list(res.errors) == [0]
        assert coll.aggregate.over_all(total_count=True).total_count == 1
    finally:
        client.close()


# ============================================================================ batching and limits
def test_upserts_are_batched_by_batch_size(standin: WeaviateStandIn) -> None:
    with open_store(standin.url, prefix="Batch", batch_size=100) as s:
        before = standin.state.requests.count("grpc BatchObjects")
        s.upsert("c", _recs(250))
        assert standin.state.requests.count("grpc BatchObjects") - before == 3
        assert s.count("c") == 250


def test_delete_where_repeats_past_the_per_request_limit(
    standin: WeaviateStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standin_module, "QUERY_MAXIMUM_RESULTS", 40)
    with open_store(standin.url, prefix="Limit") as s:
        s.upsert("c", _recs(130))
        assert s.delete("c", filter={"even": True}) == 65
        assert s.count("c") == 65
        assert s.delete("c", filter={}) == 65
        assert s.count("c") == 0


def test_scan_pages_in_key_order_even_when_keys_collide(store: Store) -> None:
    coll = _name("c")
    store.upsert(coll, _recs(45))
    backend = store.backend
    real = schema.object_key
    try:
        # Every object the same key: the cursor must still page through each once.
        schema.object_key = lambda oid: 7  # type: ignore[assignment]
        store.upsert(coll, _recs(25, prefix="same"))
    finally:
        schema.object_key = real  # type: ignore[assignment]
    seen = [r.id for r in store.iter_records(coll, batch_size=7)]
    assert len(seen) == len(set(seen)) == 70
    assert isinstance(backend, WeaviateBackend)


# ============================================================================ chat
def test_last_n_messages_cost_n_not_the_session_length(standin: WeaviateStandIn) -> None:
    with open_store(standin.url, prefix="Chat") as s:
        s.append_messages("long", [{"n": i} for i in range(400)])
        before = len(standin.state.requests)
        assert s.get_messages("long", last_n=3) == [{"n": 397}, {"n": 398}, {"n": 399}]
        calls = standin.state.requests[before:]
        # head, one probe past the end, one fetch of the 3 slots
        assert calls == ["grpc Search"] * 3


def test_appends_from_two_stores_claim_distinct_slots(weaviate_url: str) -> None:
    prefix = _prefix()
    with open_store(weaviate_url, prefix=prefix) as a, open_store(weaviate_url, prefix=prefix) as b:
        def work(store: Store, tag: str) -> None:
            for j in range(15):
                store.append_messages("shared", [{"t": tag, "j": j}])

        threads = [threading.Thread(target=work, args=(st, t)) for st, t in ((a, "a"), (b, "b"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        got = a.get_messages("shared")
        assert len(got) == 30
        for tag in "ab":
            assert [m["j"] for m in got if m["t"] == tag] == list(range(15))


# ============================================================================ client objects
def test_from_sync_client_runs_async_in_threads_and_never_closes_it(
    weaviate_url: str,
) -> None:
    st = parse_settings(weaviate_url, {})
    client = weaviate.connect_to_custom(st.http_host, st.http_port, False, st.grpc_host,
                                        st.grpc_port, False)
    try:
        store = open_store(client, prefix=_prefix())
        assert store.backend_name == "weaviate"
        assert store.capabilities.native_async is False
        store.upsert("c", _recs(4))
        assert asyncio.run(store.acount("c", filter={"even": True})) == 2
        store.close()
        assert client.is_connected()
        with pytest.raises(ConfigurationError, match="unknown options"):
            open_store(client, grpc_port=1)
    finally:
        client.close()


async def test_from_async_client_is_used_natively(weaviate_url: str) -> None:
    st = parse_settings(weaviate_url, {})
    client = weaviate.use_async_with_custom(st.http_host, st.http_port, False, st.grpc_host,
                                            st.grpc_port, False)
    await client.connect()
    try:
        store = open_store(client, prefix=_prefix())
        assert store.capabilities.native_async is True
        await store.aupsert("c", _recs(6))
        hits = await store.asearch("c", _recs(6)[2].vector or [], k=1)
        assert hits[0].record.id == "id0002"
        with pytest.raises(ConfigurationError, match="async calls only"):
            store.count("c")
        await store.aclose()
        assert client.is_connected()
    finally:
        await client.close()


def test_close_closes_every_client_it_opened(weaviate_url: str) -> None:
    store = open_store(weaviate_url, prefix=_prefix())
    conn = store.backend._conn  # type: ignore[attr-defined]
    sync = conn._sync

    async def use() -> Any:
        await store.acount("nothing")
        return next(conn._aclients.made())

    aclient = asyncio.run(use())  # the loop's shutdown closed its client
    assert not aclient.is_connected()
    store.close()
    assert not sync.is_connected()
    store.close()  # idempotent


async def test_async_client_per_event_loop_closed_by_aclose(weaviate_url: str) -> None:
    store = open_store(weaviate_url, prefix=_prefix())
    await store.aupsert("c", _recs(2))
    conn = store.backend._conn  # type: ignore[attr-defined]
    (client,) = conn._aclients.made()
    await store.aclose()
    assert not client.is_connected()


# ============================================================================ scores and hybrid
def test_distances_per_metric_are_canonical(store: Store) -> None:
    from bruno_memory_integrations.scores import distance

    rng = random.Random(9)
    for metric in ("cosine", "euclidean", "dot"):
        coll = _name(metric)
        vecs = [[x * (1 + i) for x in random_vector(rng, DIM)] for i in range(5)]
        store.ensure_collection(coll, DIM, metric)
        store.upsert(coll, [Record(f"v{i}", "", v, {}) for i, v in enumerate(vecs)])
        q = random_vector(rng, DIM)
        for h in store.search(coll, q, k=5):
            want = distance(metric, q, vecs[int(h.record.id[1:])])
            assert h.distance == pytest.approx(want, rel=1e-4, abs=1e-4), metric


def test_native_hybrid_is_weaviates_ranked_fusion_on_our_scale(store: Store) -> None:
    coll = _name("h")
    store.upsert(coll, [
        Record("a", "apple pie", unit([1, 0, 0, 0, 0, 0, 0, 0]), {}),
        Record("b", "banana", unit([0, 1, 0, 0, 0, 0, 0, 0]), {}),
        Record("c", "apple banana", unit([1, 1, 0, 0, 0, 0, 0, 0]), {}),
    ])
    hits = store.hybrid_search(coll, "banana", unit([1, 0, 0, 0, 0, 0, 0, 0]), k=3)
    # vector ranks a, c, b; keyword ranks b (shorter text), c. Weaviate scores
    # 0.5 / (60 + rank) per list; times 60 that is 1 for a record first in both.
    want = {"a": 0.5, "b": 30 / 62 + 0.5, "c": 60 / 61}
    assert [h.record.id for h in hits] == ["b", "c", "a"]
    for h in hits:
        assert h.score == pytest.approx(want[h.record.id], abs=1e-6)
        assert h.distance is None
    # rrf_k (or fetch_k) asks for the core's reciprocal rank fusion instead.
    fused = store.hybrid_search(coll, "banana", unit([1, 0, 0, 0, 0, 0, 0, 0]), k=3, rrf_k=60)
    assert {h.record.id: h.score for h in fused} == pytest.approx(
        {"a": 0.5 * 61 / 61, "b": (1 / 61 + 1 / 63) / (2 / 61), "c": 1.0 * (2 / 62) / (2 / 61)}
    )


async def test_first_async_calls_racing_share_one_connected_client(weaviate_url: str) -> None:
    store = open_store(weaviate_url, prefix=_prefix())
    try:
        await store.akv_mset("kv", {"a": b"1"})
        conn = store.backend._conn  # type: ignore[attr-defined]
        await conn.aclose()  # forget this loop's client: the next calls race to make one
        got = await asyncio.gather(*(store.akv_mget("kv", ["a"]) for _ in range(8)))
        assert got == [[b"1"]] * 8
    finally:
        await store.aclose()


def test_keyword_search_requires_every_word_and_has_no_stop_words(store: Store) -> None:
    coll = _name("k")
    store.upsert(coll, [
        Record("a", "the cat and the hat", unit([1.0] * DIM), {}),
        Record("b", "the cat", unit([1.0] * DIM), {}),
        Record("c", "hat_trick snake_case", unit([1.0] * DIM), {}),
    ])
    assert {h.record.id for h in store.keyword_search(coll, "cat hat", k=5)} == {"a"}
    assert {h.record.id for h in store.keyword_search(coll, "the", k=5)} == {"a", "b"}
    assert {h.record.id for h in store.keyword_search(coll, "trick", k=5)} == {"c"}
    assert store.keyword_search(coll, "!!!", k=5) == []


def test_batch_errors_are_reported(store: Store) -> None:
    coll = _name("c")
    store.upsert(coll, _recs(2))
    backend = store.backend
    assert isinstance(backend, WeaviateBackend)
    # A record whose metadata kind's property was forced to another data type.
    cls = schema.vector_class(backend.prefix, coll)
    prop = schema.meta_property("z", "s")
    backend._conn._sync.collections.use(cls).config.add_property(  # type: ignore[attr-defined]
        Property(name=prop, data_type=DataType.INT)
    )
    with pytest.raises(BackendError, match="insert"):
        store.upsert(coll, [Record("x", "", unit([1.0] * DIM), {"z": "text"})])


def test_filters_of_every_conformance_case_on_many_records(store: Store) -> None:
    coll = _name("c")
    recs = filter_records(DIM)
    store.upsert(coll, recs)
    for spec in ({"n": {"$gt": 5}}, {"tags": {"$contains": "it's"}}, {"$not": {"n": "7"}}):
        want = sum(matches(spec, r.metadata) for r in recs)
        assert store.count(coll, filter=spec) == want
