"""The Pinecone backend: conformance on the stand-in, and its own behaviour.

No Pinecone runs here (it is a managed service), so these tests use
tests/pinecone_standin.py: a local server for one index's data plane that checks
every request against the OpenAPI models shipped in the SDK and implements
Pinecone's documented semantics (docs/backends/pinecone.md says what that proves).
tests/test_pinecone_live.py runs the conformance suite against a real index.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("pinecone", reason="the pinecone extra (pinecone) is not installed")

from pinecone import Pinecone

from bruno_memory_integrations import (
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    InvalidInputError,
    NotSupportedError,
    Record,
    Store,
    open_store,
)
from bruno_memory_integrations.backends.pinecone import PineconeBackend
from bruno_memory_integrations.backends.pinecone import codec as c
from bruno_memory_integrations.backends.pinecone.filters import ALWAYS, NEVER, to_pinecone_filter
from bruno_memory_integrations.backends.pinecone.options import parse_settings
from bruno_memory_integrations.filters import evaluate, parse_filter
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import FILTER_CASES, filter_records

try:
    import pinecone_standin as standin_module
    from pinecone_standin import PineconeStandIn
    from servers import free_port
except ImportError:  # tests/ imported as a package
    from tests import pinecone_standin as standin_module  # type: ignore[no-redef]
    from tests.pinecone_standin import PineconeStandIn  # type: ignore[no-redef]
    from tests.servers import free_port  # type: ignore[no-redef]


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def standin() -> Iterator[PineconeStandIn]:
    """A private stand-in, whose request log and data a test may read."""
    server = PineconeStandIn(dimension=16).start()
    yield server
    server.stop()


class TestPineconeConformance(ConformanceTests):
    """The whole conformance suite on the stand-in (a dotproduct index: all three metrics)."""

    @pytest.fixture
    def make_store(self, pinecone_small_url: str) -> Callable[[], Store]:
        prefix = _prefix()
        return lambda: open_store(pinecone_small_url, prefix=prefix)


# ============================================================================ URLs and options
def test_url_forms_and_key_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    st = parse_settings("pinecone://idx-abc.svc.pinecone.io", {"api_key": "k1"})
    assert (st.host, st.api_key, st.prefix) == ("https://idx-abc.svc.pinecone.io", "k1", "bruno")
    st = parse_settings("pinecone+http://:s3cret@127.0.0.1:5081?prefix=mine", {})
    assert (st.host, st.api_key, st.prefix) == ("http://127.0.0.1:5081", "s3cret", "mine")
    assert "s3cret" not in repr(st) and "s3cret" not in st.description
    st = parse_settings("pinecone://", {"api_key": "k", "index_name": "docs"})
    assert (st.host, st.index_name) == (None, "docs")
    st = parse_settings("pinecone://", {"api_key": "k", "index_host": "h.example"})
    assert st.host == "https://h.example"
    monkeypatch.setenv("PINECONE_API_KEY", "from-env")
    assert parse_settings("pinecone://h", {}).api_key == "from-env"
    assert parse_settings("pinecone://h", {"api_key": "given"}).api_key == "given"


@pytest.mark.parametrize(
    "url, options, match",
    [
        ("pinecone://h", {}, "API key"),
        ("pinecone://h", {"api_key": ""}, "api_key"),
        ("pinecone://h?api_key=x", {}, "query string"),
        ("pinecone://", {"api_key": "k"}, "which index"),
        ("pinecone://h/path", {"api_key": "k"}, "no path"),
        ("pinecone://h", {"api_key": "k", "prefix": "Bad-Prefix"}, "prefix"),
        ("pinecone://h", {"api_key": "k", "no_such": 1}, "unknown options"),
        ("pinecone://h", {"api_key": "k", "index_host": "other"}, "index_host"),
    ],
)
def test_bad_urls_and_options_are_refused_before_connecting(
    url: str, options: dict[str, Any], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=match):
        open_store(url, **options)


def test_wrong_key_and_unreachable_host_are_unavailable_with_key_masked(
    standin: PineconeStandIn,
) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"pinecone+http://127.0.0.1:{standin.port}", api_key="wrong-key-123")
    assert "wrong-key-123" not in str(info.value) and "API key" in str(info.value)
    with pytest.raises(BackendUnavailableError) as info:
        open_store(f"pinecone+http://127.0.0.1:{free_port()}", api_key="top-s3cret")
    assert "top-s3cret" not in str(info.value)
    with open_store(standin.url) as s:
        assert "standin-key" not in repr(s.backend)


def test_reads_of_namespaces_that_do_not_exist_read_as_empty_even_on_404() -> None:
    with PineconeStandIn(dimension=8, missing_namespace_404=True).start() as server, \
            open_store(server.url) as s:
        assert s.collection_info("c") is None and s.list_collections() == []
        assert s.get("c", ["a"]) == [] and s.count("c", filter={"k": 1}) == 0
        assert s.delete("c", filter={"k": 1}) == 0 and s.scan("c").records == []
        assert s.get_messages("x") == [] and s.list_sessions() == []
        assert s.kv_mget("kv", ["a"]) == [None] and s.kv_keys("kv") == []
        s.kv_mdelete("kv", ["a"])
        s.drop_collection("c")
        s.upsert("c", [Record("a", "", [1.0], {"k": 1})])
        assert s.count("c", filter={"k": 1}) == 1


def test_an_index_refusing_filtered_update_and_delete_counts_and_deletes_by_listing() -> None:
    with PineconeStandIn(dimension=8, filter_writes=False).start() as server, \
            open_store(server.url) as s:
        s.upsert("c", [Record(f"r{i}", "", [1.0, float(i)], {"i": i}) for i in range(250)])
        assert s.count("c", filter={"i": {"$lt": 120}}) == 120
        assert s.delete("c", filter={"i": {"$gte": 200}}) == 50
        assert s.count("c") == 200 and s.count("c", filter={"i": {"$gte": 200}}) == 0
        refused = [r for r in server.requests if r[1] == "/vectors/update"]
        assert len(refused) == 1  # asked once, then remembered


# ============================================================================ limits
def test_metadata_over_40_kb_is_refused_whole_before_sending(standin: PineconeStandIn) -> None:
    with open_store(standin.url) as s:
        s.upsert("c", [Record("a", "kept", [1.0] * 4, {})])
        sent = len(standin.requests)
        fat = Record("b", "x" * (c.MAX_METADATA_BYTES + 1), [1.0] * 4, {})
        with pytest.raises(InvalidInputError, match="40960 bytes") as info:
            s.upsert("c", [Record("a", "changed", [2.0] * 4, {}), fat])
        assert isinstance(info.value, c.LimitError)
        assert [r for r in standin.requests[sent:] if r[1] == "/vectors/upsert"] == []
        assert [r.text for r in s.get("c", ["a", "b"])] == ["kept"]
        with pytest.raises(InvalidInputError, match="40 KB"):
            s.append_messages("sess", [{"a": 1}, {"content": "y" * 50_000}])
        assert s.get_messages("sess") == []


def test_batches_are_split_at_1000_records_and_2_mb() -> None:
    with PineconeStandIn(dimension=8).start() as server, open_store(server.url) as s:
        s.ensure_collection("d", 8)
        server.upsert_sizes.clear()
        s.upsert("d", [Record(f"s{i}", "", [1.0] * 8, {}) for i in range(2100)])
        assert server.upsert_sizes == [1000, 1000, 100]
        assert s.count("d") == 2100
        # 130 records of 35 KB text: 4.5 MB, which no single request may carry.
        server.upsert_sizes.clear()
        s.upsert("c", [Record(f"r{i}", "é" * 17_000, [1.0] * 8, {"i": i}) for i in range(130)])
        assert sum(server.upsert_sizes) == 131 and len(server.upsert_sizes) > 3
        assert s.count("c") == 130


def test_searches_beyond_1000_results_query_ids_then_fetch() -> None:
    with PineconeStandIn(dimension=4).start() as server, open_store(server.url) as s:
        s.upsert("c", [Record(f"r{i:04d}", "t", [1.0, i / 1000.0], {"i": i}) for i in range(1200)])
        hits = s.search("c", [1.0, 0.0], k=1100, include_vectors=True, filter={"i": {"$gte": 50}})
        assert len(hits) == 1100 and hits[0].record.id == "r0050"
        assert hits[0].record.vector is not None and abs(hits[0].record.vector[1] - 0.05) < 1e-6
        assert all(h.record.metadata["i"] >= 50 for h in hits)
        queries = [r for r in server.requests if r[1] == "/query"]
        assert queries  # one query for ids (topK over 1 000 carries no metadata), then fetches


def test_long_and_non_ascii_ids_are_stored_under_a_hash(standin: PineconeStandIn) -> None:
    with open_store(standin.url) as s:
        ids = ["plain-id", "é" * 300, "~tilde", "with space", "x" * 600]
        s.upsert("c", [Record(i, i[:5], [1.0, 2.0], {"k": i}) for i in ids])
        stored = set(standin.index.spaces[f"{s.backend.prefix}-v-c"])  # type: ignore[attr-defined]
        assert "plain-id" in stored and all(len(p) <= 512 and p.isascii() for p in stored)
        assert sorted(r.id for r in s.get("c", ids)) == sorted(ids)
        assert s.delete("c", ids[1:3]) == 2 and s.count("c") == 3


# ============================================================================ representation
def test_big_kv_values_are_chunked_and_old_chunks_removed(standin: PineconeStandIn) -> None:
    with open_store(standin.url) as s:
        big = bytes(range(256)) * 400  # 100 KB: five records
        s.kv_mset("kv", {"big": big, "small": b"s", "empty": b""})
        ns = f"{s.backend.prefix}-kv-kv"  # type: ignore[attr-defined]
        assert len(standin.index.spaces[ns]) == 3 + 4
        assert s.kv_mget("kv", ["big", "small", "empty", "none"]) == [big, b"s", b"", None]
        s.kv_mset("kv", {"big": b"now small"})
        assert len(standin.index.spaces[ns]) == 3
        assert s.kv_mget("kv", ["big"]) == [b"now small"]
        assert s.kv_keys("kv", prefix="") == ["big", "empty", "small"]
        s.kv_mdelete("kv", ["big", "small", "empty"])
        assert ns not in standin.index.spaces


def test_chat_sessions_and_order(standin: PineconeStandIn) -> None:
    with open_store(standin.url) as s:
        for i in range(5):
            s.append_messages("a", [{"i": i}, {"i": i, "j": 1}], namespace="n")
        s.append_messages("b" * 500, [{"x": 1}], namespace="n")
        assert [m["i"] for m in s.get_messages("a", namespace="n")] == [0, 0, 1, 1, 2, 2, 3, 3,
                                                                       4, 4]
        assert s.get_messages("a", namespace="n", last_n=3) == [{"i": 3, "j": 1}, {"i": 4},
                                                               {"i": 4, "j": 1}]
        assert s.list_sessions(namespace="n") == ["a", "b" * 500]
        s.clear_messages("a", namespace="n")
        assert s.list_sessions(namespace="n") == ["b" * 500]


# ============================================================================ filters
def test_translation_matches_the_reference_on_the_standins_evaluator() -> None:
    """Every filter case, translated, evaluated by the stand-in's own Pinecone evaluator
    on the metadata the backend writes, selects what the reference selects."""
    records = filter_records()
    for case_id, spec in FILTER_CASES:
        node = parse_filter(spec)
        want = {r.id for r in records if evaluate(node, r.metadata)}
        try:
            flt = to_pinecone_filter(node)
        except FilterError:
            continue  # refused cases are checked by the conformance suite
        if flt is ALWAYS or flt is NEVER:
            got = {r.id for r in records} if flt is ALWAYS else set()
        else:
            got = {r.id for r in records
                   if standin_module.matches(flt, c.filter_fields(r.metadata))}
        assert got == want, case_id


def test_negations_do_not_depend_on_absent_field_semantics() -> None:
    flt = to_pinecone_filter(parse_filter({"k": {"$ne": "v"}}))
    assert isinstance(flt, dict) and set(flt) == {"$or"}
    assert flt["$or"][0] == {"_t": {"$nin": [c.tag("k", "s")]}}
    assert to_pinecone_filter(parse_filter({"k": {"$exists": False}})) == {
        "_t": {"$nin": [c.tag("k", kind) for kind in "snble"]}
    }
    with pytest.raises(FilterError, match="substring"):
        to_pinecone_filter(parse_filter({"k": {"$substring": "a"}}))
    with pytest.raises(FilterError, match="2\\*\\*53"):
        to_pinecone_filter(parse_filter({"$or": [{"k": 1}, {"n": {"$gt": 2**60}}]}))


# ============================================================================ metrics
def test_a_cosine_index_serves_cosine_only() -> None:
    with PineconeStandIn(dimension=8, metric="cosine").start() as server, \
            open_store(server.url) as s:
        assert s.capabilities.metrics == ("cosine",)
        with pytest.raises(NotSupportedError, match="euclidean"):
            s.ensure_collection("e", 4, "euclidean")
        with pytest.raises(InvalidInputError, match="index has 8"):
            s.ensure_collection("big", 9)
        s.upsert("c", [Record("a", "", [1.0, 0.0], {}), Record("b", "", [1.0, 1.0], {})])
        hits = s.search("c", [1.0, 0.0], k=2, include_vectors=True)
        assert [h.record.id for h in hits] == ["a", "b"]
        assert hits[0].record.vector == [1.0, 0.0]
        assert abs(hits[1].distance - (1 - 2**-0.5)) < 1e-6  # type: ignore[operator]


def test_a_euclidean_index_serves_euclidean_and_cosine() -> None:
    with PineconeStandIn(dimension=4, metric="euclidean").start() as server, \
            open_store(server.url) as s:
        assert s.capabilities.metrics == ("cosine", "euclidean")
        s.ensure_collection("e", 2, "euclidean")
        s.upsert("e", [Record("a", "", [3.0, 4.0], {})])
        (hit,) = s.search("e", [0.0, 0.0], k=1)
        assert abs(hit.distance - 5.0) < 1e-5  # type: ignore[operator]
        s.upsert("c", [Record("a", "", [3.0, 4.0], {})])
        (hit,) = s.search("c", [0.0, 1.0], k=1, include_vectors=True)
        assert abs(hit.distance - 0.2) < 1e-6  # type: ignore[operator]
        assert hit.record.vector == [3.0, 4.0]


# ============================================================================ client objects
def test_caller_objects_are_accepted_and_never_closed(standin: PineconeStandIn) -> None:
    pc = Pinecone(api_key=standin.api_key)
    index = pc.Index(host=standin.host)
    with open_store(index, prefix="objs") as s:
        s.upsert("c", [Record("a", "", [1.0], {})])
        assert not s.capabilities.native_async
    assert index.describe_index_stats().dimension == 16  # still open
    with open_store(pc, index_host=standin.host, prefix="objs") as s:
        assert s.count("c") == 1 and s.capabilities.native_async
    with pytest.raises(ConfigurationError, match="index_host"):
        open_store(pc)
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(index, api_key="x")


async def test_asyncio_index_serves_async_calls_natively(standin: PineconeStandIn) -> None:
    aindex = Pinecone(api_key=standin.api_key).IndexAsyncio(host=standin.host)
    try:
        s = open_store(aindex, prefix="aio")
        assert isinstance(s.backend, PineconeBackend) and s.capabilities.native_async
        await s.aupsert("c", [Record("a", "t", [1.0, 2.0], {"k": 1})])
        assert [r.id for r in await s.aget("c", ["a"])] == ["a"]
        assert await s.acount("c", filter={"k": 1}) == 1
        with pytest.raises(ConfigurationError, match="async calls only"):
            s.count("c")
        await s.aclose()
    finally:
        await aindex.close()


async def test_url_stores_use_one_asyncio_index_per_loop(standin: PineconeStandIn) -> None:
    s = open_store(standin.url)
    await asyncio.gather(*(s.aupsert("c", [Record(f"r{i}", "", [1.0], {})]) for i in range(5)))
    assert await s.acount("c") == 5
    assert len(s.backend._conn._aindexes) == 1  # type: ignore[attr-defined]
    await s.aclose()
