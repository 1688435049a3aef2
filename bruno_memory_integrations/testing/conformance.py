"""The conformance suite, written once, run by every backend.

A backend's test module subclasses :class:`ConformanceTests` (or single mixins)
and supplies one fixture, ``make_store``: a callable that opens a new
:class:`~bruno_memory_integrations.Store` on the backend's test database
(each call a new store object over the same data). Tests use fresh random
collection, namespace and session names, so a shared server needs no cleaning.

    class TestSQLite(ConformanceTests):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: open_store(f"sqlite:///{tmp_path}/t.db")

Where a capability is missing the test skips and names the capability. A backend
that refuses a filter case it cannot express lists the case id in
``refused_filters``; the test then demands a :class:`FilterError` for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from .. import errors
from ..filters import matches
from ..scores import distance, score_from_distance
from ..store import Store
from ..types import Record
from .data import (
    FILTER_CASES,
    TRICKY_STRINGS,
    filter_records,
    random_filter,
    random_vector,
    unit,
)

__all__ = [
    "AsyncTests",
    "BadInputTests",
    "ChatTests",
    "ConformanceTests",
    "FilterTests",
    "HybridTests",
    "KeyValueTests",
    "KeywordTests",
    "RecordTests",
    "ScoreTests",
    "TTLTests",
    "TenantTests",
]

DIM = 8

#: The Backend methods that do blocking I/O (every operation's sync form runs through
#: them); async calls must keep them off the loop thread.
BACKEND_SYNC_METHODS = ("run", "execute")


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _records(n: int, dim: int = DIM, seed: int = 1, prefix: str = "id") -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(
            f"{prefix}{i:04d}", f"text {i}", random_vector(rng, dim), {"i": i, "even": i % 2 == 0}
        )
        for i in range(n)
    ]


def _close(a: list[float] | None, b: list[float], tol: float = 1e-5) -> bool:
    return (
        a is not None
        and len(a) == len(b)
        and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))
    )


def _require(store: Store, capability: str) -> None:
    if not getattr(store.capabilities, capability):
        pytest.skip(f"backend {store.backend_name!r} lacks capability {capability!r}")


class _Base:
    """Fixtures shared by the mixins."""

    #: Filter case ids (see testing/data.py) this backend refuses with FilterError.
    refused_filters: ClassVar[frozenset[str]] = frozenset()
    #: Filter features (testing/fuzz.py: BIG_NUMBERS, SUBSTRING) refused with
    #: FilterError, whatever the data, beyond those the backend declares itself
    #: (``Capabilities.refused_filters``); every other valid filter must be answered.
    refused_filter_features: ClassVar[frozenset[str]] = frozenset()

    def refused_features(self, store: Store) -> frozenset[str]:
        """What ``store`` refuses: its declared ``refused_filters`` and the class's own."""
        return self.refused_filter_features | store.capabilities.refused_filters

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:  # pragma: no cover - overridden
        raise NotImplementedError("a backend's test class must define the make_store fixture")

    @pytest.fixture
    def store(self, make_store: Callable[[], Store]) -> Iterator[Store]:
        s = make_store()
        yield s
        s.close()

    @pytest.fixture
    def coll(self, store: Store) -> Iterator[str]:
        name = _name("coll")
        yield name
        if not store.closed:
            with contextlib.suppress(errors.BrunoMemoryError):
                store.drop_collection(name)


# =============================================================================== records
class RecordTests(_Base):
    def test_upsert_get_round_trip(self, store: Store, coll: str) -> None:
        recs = _records(5)
        recs[1].metadata = {"s": "x", "n": 1.25, "b": False, "z": None, "tags": ["a", "b"]}
        if store.capabilities.nested_metadata:
            recs[2].metadata = {"deep": {"a": [1, {"b": None}], "c": "ü"}}
        assert store.upsert(coll, recs) == [r.id for r in recs]
        got = store.get(coll, [r.id for r in reversed(recs)])
        assert [g.id for g in got] == [r.id for r in reversed(recs)]
        for want, have in zip(reversed(recs), got, strict=True):
            assert have.text == want.text
            assert have.metadata == want.metadata
            assert _close(have.vector, want.vector or [])

    def test_get_without_vectors_and_missing_ids(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(3))
        got = store.get(coll, ["id0002", "missing", "id0000"], include_vectors=False)
        assert [g.id for g in got] == ["id0002", "id0000"]
        assert all(g.vector is None for g in got)
        assert store.get(coll, []) == []
        assert store.get(_name("nocoll"), ["id0000"]) == []

    def test_upsert_replaces_never_duplicates(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(4))
        new = Record("id0001", "replaced", unit([1.0] * DIM), {"v": 2})
        store.upsert(coll, [new])
        assert store.count(coll) == 4
        (got,) = store.get(coll, ["id0001"])
        assert (got.text, got.metadata) == ("replaced", {"v": 2})
        assert _close(got.vector, new.vector or [])
        hits = store.search(coll, new.vector or [], k=10)
        assert [h.record.id for h in hits].count("id0001") == 1

    def test_repeated_id_in_one_batch_last_wins(self, store: Store, coll: str) -> None:
        a, b = _records(2)
        b.id = a.id
        b.text = "second"
        assert store.upsert(coll, [a, b]) == [a.id]
        assert store.count(coll) == 1
        assert store.get(coll, [a.id])[0].text == "second"

    def test_delete_by_ids(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(5))
        assert store.delete(coll, ["id0001", "id0003", "nope"]) == 2
        assert store.count(coll) == 3
        assert [r.id for r in store.get(coll, ["id0001", "id0002"])] == ["id0002"]
        assert store.delete(coll, []) == 0

    def test_delete_by_filter_and_all(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(10))
        assert store.delete(coll, filter={"even": True}) == 5
        assert store.count(coll) == 5
        assert store.count(coll, filter={"even": True}) == 0
        assert store.delete(coll, filter={}) == 5
        assert store.count(coll) == 0

    def test_delete_needs_ids_or_filter(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(2))
        with pytest.raises(errors.InvalidInputError):
            store.delete(coll)
        with pytest.raises(errors.InvalidInputError):
            store.delete(coll, ["id0000"], filter={"i": 0})
        assert store.count(coll) == 2

    def test_count_with_filter(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(9))
        assert store.count(coll) == 9
        assert store.count(coll, filter={"i": {"$lt": 4}}) == 4
        assert store.count(_name("nocoll")) == 0

    def test_scan_pages_cover_everything_once(self, store: Store, coll: str) -> None:
        recs = _records(53)
        store.upsert(coll, recs)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = store.scan(coll, limit=10, cursor=cursor)
            assert len(page.records) <= 10
            seen += [r.id for r in page.records]
            pages += 1
            if page.cursor is None:
                break
            cursor = page.cursor
            assert pages < 20
        assert sorted(seen) == sorted(r.id for r in recs)
        assert len(seen) == len(set(seen))
        evens = [r.id for r in store.iter_records(coll, filter={"even": True}, batch_size=7)]
        assert sorted(evens) == sorted(r.id for r in recs if r.metadata["even"])

    def test_scan_returns_vectors_when_asked(self, store: Store, coll: str) -> None:
        recs = _records(3)
        store.upsert(coll, recs)
        page = store.scan(coll, limit=10, include_vectors=True)
        by_id = {r.id: r for r in page.records}
        for r in recs:
            assert _close(by_id[r.id].vector, r.vector or [])

    def test_search_respects_k_and_filter(self, store: Store, coll: str) -> None:
        recs = _records(30)
        store.upsert(coll, recs)
        q = recs[4].vector or []
        hits = store.search(coll, q, k=5)
        assert len(hits) == 5
        assert hits[0].record.id == "id0004"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        hits = store.search(coll, q, k=50, filter={"even": False})
        assert len(hits) == 15
        assert all(h.record.metadata["even"] is False for h in hits)
        assert store.search(_name("nocoll"), q, k=3) == []

    def test_search_restricted_to_ids(self, store: Store, coll: str) -> None:
        recs = _records(20)
        store.upsert(coll, recs)
        q = recs[0].vector or []
        allowed = ["id0003", "id0010", "id0011", "id0012", "missing"]
        hits = store.search(coll, q, k=3, ids=allowed, filter={"i": {"$ne": 12}})
        full = store.search(coll, q, k=20, filter={"i": {"$in": [3, 10, 11]}})
        assert [h.record.id for h in hits] == [h.record.id for h in full]
        assert [h.score for h in hits] == pytest.approx([h.score for h in full], abs=1e-4)
        assert all(h.record.vector is None for h in hits)
        assert store.search(coll, q, k=3, ids=[]) == []

    def test_search_returns_vectors_when_asked(self, store: Store, coll: str) -> None:
        recs = _records(4)
        store.upsert(coll, recs)
        (hit,) = store.search(coll, recs[2].vector or [], k=1, include_vectors=True)
        assert _close(hit.record.vector, recs[2].vector or [])

    def test_tricky_ids_text_and_metadata_stored_exactly(self, store: Store, coll: str) -> None:
        rng = random.Random(3)
        recs = [
            Record(s, s, random_vector(rng, DIM), {s: s, "k": s}) for s in TRICKY_STRINGS
        ]
        store.upsert(coll, recs)
        assert store.count(coll) == len(recs)
        got = {r.id: r for r in store.get(coll, TRICKY_STRINGS)}
        for r in recs:
            assert got[r.id].text == r.text
            assert got[r.id].metadata == r.metadata
        for s in TRICKY_STRINGS:
            assert [r.id for r in store.scan(coll, filter={"k": s}, limit=50).records] == [s]
        assert store.delete(coll, [TRICKY_STRINGS[3]]) == 1
        assert store.count(coll) == len(recs) - 1

    def test_tricky_collection_names(self, store: Store) -> None:
        names = ["Robert'); DROP TABLE x;--", 'q"uote', "a%b_c", "ns/with:sep", "ü \U0001f600"]
        try:
            for i, name in enumerate(names):
                store.upsert(name, [Record("same-id", name, unit([1.0] * DIM), {"i": i})])
            for i, name in enumerate(names):
                (got,) = store.get(name, ["same-id"])
                assert (got.text, got.metadata) == (name, {"i": i})
                assert store.count(name) == 1
            assert set(names) <= set(store.list_collections())
        finally:
            for name in names:
                store.drop_collection(name)

    def test_collections_are_isolated(self, store: Store, coll: str) -> None:
        other = _name("other")
        try:
            store.upsert(coll, _records(3))
            store.upsert(other, _records(2))
            assert (store.count(coll), store.count(other)) == (3, 2)
            store.delete(other, filter={})
            assert store.count(coll) == 3
        finally:
            store.drop_collection(other)

    def test_collection_info_and_drop(self, store: Store, coll: str) -> None:
        info = store.ensure_collection(coll, DIM, "euclidean", "model-a")
        assert (info.dimension, info.metric, info.embedding_model) == (DIM, "euclidean", "model-a")
        assert coll in store.list_collections()
        store.upsert(coll, _records(2))
        store.drop_collection(coll)
        assert coll not in store.list_collections()
        assert store.collection_info(coll) is None
        assert store.count(coll) == 0

    def test_collection_info_survives_reopen(
        self, store: Store, coll: str, make_store: Callable[[], Store]
    ) -> None:
        store.ensure_collection(coll, DIM, "dot", "model-b")
        store.upsert(coll, _records(2))
        with make_store() as again:
            info = again.collection_info(coll)
            assert info is not None
            assert (info.dimension, info.metric, info.embedding_model) == (DIM, "dot", "model-b")
            assert again.count(coll) == 2

    def test_dimension_mismatch_raises_and_changes_nothing(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(3))
        with pytest.raises(errors.DimensionMismatchError):
            store.upsert(coll, _records(2, dim=DIM + 1, prefix="x"))
        with pytest.raises(errors.DimensionMismatchError):
            store.search(coll, [0.1] * (DIM - 1))
        assert store.count(coll) == 3

    def test_model_and_metric_mismatch_raise(self, store: Store, coll: str) -> None:
        store.upsert(coll, _records(2), embedding_model="model-a")
        with pytest.raises(errors.CollectionMismatchError):
            store.upsert(coll, _records(2, prefix="x"), embedding_model="model-b")
        with pytest.raises(errors.CollectionMismatchError):
            store.search(coll, [0.1] * DIM, embedding_model="model-b")
        with pytest.raises(errors.CollectionMismatchError):
            store.ensure_collection(coll, DIM, "euclidean")
        assert store.count(coll) == 2

    def test_persistence_across_store_objects(
        self, store: Store, coll: str, make_store: Callable[[], Store]
    ) -> None:
        store.upsert(coll, _records(4))
        with make_store() as again:
            assert again.count(coll) == 4
            again.delete(coll, ["id0000"])
        assert store.count(coll) == 3

    def test_concurrent_writers_from_threads(self, store: Store, coll: str) -> None:
        store.ensure_collection(coll, DIM)
        errors_seen: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for j in range(10):
                    store.upsert(coll, _records(5, seed=t * 100 + j, prefix=f"t{t}-{j}-"))
            except BaseException as exc:  # noqa: BLE001 - reported below  # pragma: no cover
                errors_seen.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors_seen == []
        assert store.count(coll) == 6 * 10 * 5


# =============================================================================== filters
def _case_ids() -> list[str]:
    return [cid for cid, _ in FILTER_CASES]


class FilterTests(_Base):
    @pytest.fixture
    def filtered(self, store: Store, coll: str) -> tuple[Store, str, list[Record]]:
        recs = filter_records(DIM)
        store.upsert(coll, recs)
        return store, coll, recs

    @pytest.mark.parametrize("case", _case_ids())
    def test_filter_matches_reference(
        self, filtered: tuple[Store, str, list[Record]], case: str
    ) -> None:
        store, coll, recs = filtered
        spec = dict(FILTER_CASES)[case]
        want = sorted(r.id for r in recs if matches(spec, r.metadata))
        if case in self.refused_filters:
            with pytest.raises(errors.FilterError):
                store.count(coll, filter=spec)
            return
        got_scan = sorted(r.id for r in store.iter_records(coll, filter=spec, batch_size=100))
        assert got_scan == want, f"scan with {spec}"
        assert store.count(coll, filter=spec) == len(want), f"count with {spec}"
        hits = store.search(coll, recs[0].vector or [], k=len(recs), filter=spec)
        assert sorted(h.record.id for h in hits) == want, f"search with {spec}"

    def test_random_filters_match_reference(
        self, filtered: tuple[Store, str, list[Record]]
    ) -> None:
        """150 random nested filters (seeded): counts must equal the reference evaluator's."""
        store, coll, recs = filtered
        rng = random.Random(20261121)
        checked = 0
        for _ in range(150):
            spec = random_filter(rng)
            want = sum(matches(spec, r.metadata) for r in recs)
            try:
                got = store.count(coll, filter=spec)
            except errors.FilterError:
                if not self.refused_filters:
                    raise
                continue  # a backend that refuses some cases may refuse random ones too
            assert got == want, f"count with {spec}"
            checked += 1
        assert checked >= 100

    def test_filters_are_not_vacuous(self) -> None:
        """The data set makes every case select some but not all records (or none on purpose)."""
        recs = filter_records(DIM)
        for cid, spec in FILTER_CASES:
            n = sum(matches(spec, r.metadata) for r in recs)
            if cid in ("no-match", "lt-negative", "contains-missing", "sql-value"):
                assert n == 0, cid
            elif cid == "missing-field":
                assert n == len(recs), cid
            else:
                assert 0 < n < len(recs), cid

    def test_delete_by_filter_matches_reference(
        self, filtered: tuple[Store, str, list[Record]]
    ) -> None:
        store, coll, recs = filtered
        spec = {"$or": [{"color": {"$in": ["red", "it's"]}}, {"n": {"$gte": 30}}]}
        want = {r.id for r in recs if matches(spec, r.metadata)}
        assert store.delete(coll, filter=spec) == len(want)
        left = {r.id for r in store.iter_records(coll)}
        assert left == {r.id for r in recs} - want

    @pytest.mark.parametrize(
        "bad",
        [
            {"color": {"$regex": "r.*"}},
            {"$nor": [{"color": "red"}]},
            {"i": {"$gt": "5"}},
            {"i": {"$in": []}},
            {"i": {"$in": [1, "a"]}},
            {"tags": ["a"]},
            {"$and": {"a": 1}},
            {"$not": []},
            {"i": {"$exists": "yes"}},
            {"": 1},
            {"i": float("nan")},
        ],
    )
    def test_bad_filters_raise_filter_error(
        self, store: Store, coll: str, bad: dict[str, Any]
    ) -> None:
        store.upsert(coll, _records(3))
        with pytest.raises(errors.FilterError):
            store.count(coll, filter=bad)
        with pytest.raises(errors.FilterError):
            store.delete(coll, filter=bad)
        assert store.count(coll) == 3


# =============================================================================== scores
class ScoreTests(_Base):
    @pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
    def test_scores_follow_the_one_rule(self, store: Store, coll: str, metric: str) -> None:
        if metric not in store.capabilities.metrics:
            pytest.skip(f"backend {store.backend_name!r} lacks the {metric} metric")
        rng = random.Random(11)
        vecs = [random_vector(rng, DIM) for _ in range(12)]
        if metric == "euclidean":
            vecs = [[x * (1 + i / 4) for x in v] for i, v in enumerate(vecs)]
        recs = [Record(f"s{i}", "", v, {}) for i, v in enumerate(vecs)]
        store.ensure_collection(coll, DIM, metric)
        store.upsert(coll, recs)
        q = random_vector(rng, DIM)
        hits = store.search(coll, q, k=12)
        assert len(hits) == 12
        expected = {
            r.id: score_from_distance(metric, distance(metric, q, r.vector or [])) for r in recs
        }
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        for h in hits:
            assert 0.0 <= h.score <= 1.0
            assert h.score == pytest.approx(expected[h.record.id], abs=2e-3)
        cut = scores[5]
        kept = store.search(coll, q, k=12, score_threshold=cut)
        assert [h.record.id for h in kept] == [h.record.id for h in hits if h.score >= cut]

    def test_identical_vector_scores_one(self, store: Store, coll: str) -> None:
        v = unit([0.3, -0.2, 0.9, 0.1, 0.0, 0.4, -0.5, 0.2])
        store.upsert(coll, [Record("same", "", v, {})])
        (hit,) = store.search(coll, v, k=1)
        assert hit.score == pytest.approx(1.0, abs=1e-4)
        opposite = [-x for x in v]
        (hit,) = store.search(coll, opposite, k=1)
        assert hit.score == pytest.approx(0.0, abs=1e-4)


# =============================================================================== keyword / hybrid
class KeywordTests(_Base):
    def test_keyword_search_finds_all_words(self, store: Store, coll: str) -> None:
        _require(store, "keyword_search")
        texts = [
            "The quick brown fox",
            "a lazy brown dog sleeps",
            "Quick thinking saves the day",
            "nothing relevant here",
            "brown brown brown fox fox",
        ]
        rng = random.Random(5)
        store.upsert(
            coll,
            [Record(f"k{i}", t, random_vector(rng, DIM), {"i": i}) for i, t in enumerate(texts)],
        )
        assert {h.record.id for h in store.keyword_search(coll, "brown", k=10)} == {
            "k0",
            "k1",
            "k4",
        }
        assert {h.record.id for h in store.keyword_search(coll, "QUICK", k=10)} == {"k0", "k2"}
        assert {h.record.id for h in store.keyword_search(coll, "brown fox", k=10)} == {"k0", "k4"}
        assert store.keyword_search(coll, "zebra", k=10) == []
        hits = store.keyword_search(coll, "brown", k=10, filter={"i": {"$gt": 0}})
        assert {h.record.id for h in hits} == {"k1", "k4"}
        assert all(0.0 <= h.score <= 1.0 for h in hits)
        assert len(store.keyword_search(coll, "brown", k=2)) == 2

    def test_keyword_query_syntax_is_inert(self, store: Store, coll: str) -> None:
        _require(store, "keyword_search")
        rng = random.Random(6)
        store.upsert(
            coll,
            [Record(f"t{i}", s, random_vector(rng, DIM)) for i, s in enumerate(TRICKY_STRINGS)],
        )
        for s in [*TRICKY_STRINGS, '"unbalanced', "NEAR(a b)", "a OR b", "-x", "x*", "@f:{y}"]:
            store.keyword_search(coll, s, k=5)  # must not raise nor run as query syntax
        hits = store.keyword_search(coll, "DROP TABLE", k=5)
        assert [h.record.id for h in hits] == ["t3"]
        assert store.count(coll) == len(TRICKY_STRINGS)


class HybridTests(_Base):
    def test_hybrid_fuses_both_rankings(self, store: Store, coll: str) -> None:
        _require(store, "hybrid_search")
        rng = random.Random(8)
        recs = [
            Record(f"h{i}", f"filler words {i}", random_vector(rng, DIM), {"i": i})
            for i in range(20)
        ]
        recs[3].text = "the special keyword appears here"
        store.upsert(coll, recs)
        q = recs[7].vector or []
        hits = store.hybrid_search(coll, "special keyword", q, k=5)
        ids = [h.record.id for h in hits]
        assert "h3" in ids and "h7" in ids
        assert ids[0] in ("h3", "h7")
        assert all(0.0 <= h.score <= 1.0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        filtered = store.hybrid_search(coll, "special keyword", q, k=5, filter={"i": {"$ne": 3}})
        assert "h3" not in [h.record.id for h in filtered]


# =============================================================================== chat
def _messages(n: int, tag: str = "") -> list[dict[str, Any]]:
    return [
        {"type": "human" if i % 2 == 0 else "ai", "data": {"content": f"{tag}m{i}"}}
        for i in range(n)
    ]


class ChatTests(_Base):
    def test_append_and_read_in_order(self, store: Store) -> None:
        _require(store, "chat")
        sid = _name("s")
        store.append_messages(sid, _messages(3))
        store.append_messages(sid, _messages(4, "b"))
        got = store.get_messages(sid)
        assert got == _messages(3) + _messages(4, "b")
        assert store.get_messages(sid, last_n=2) == _messages(4, "b")[-2:]
        assert store.get_messages(sid, last_n=100) == got
        assert store.get_messages(_name("empty")) == []

    def test_complex_messages_round_trip_exactly(self, store: Store) -> None:
        _require(store, "chat")
        sid = _name("s")
        msg = {
            "type": "ai",
            "data": {
                "content": [{"type": "text", "text": "hé \"quoted\" \n\x07"}],
                "additional_kwargs": {"function_call": {"name": "f", "arguments": "{\"a\": 1}"}},
                "tool_calls": [{"name": "search", "args": {"q": "x", "n": 2.5}, "id": "call_1"}],
                "name": "bot",
                "id": "msg-1",
                "response_metadata": {"tokens": 12, "ok": True, "none": None},
            },
        }
        store.append_messages(
            sid, [msg, {"type": "tool", "data": {"content": "", "tool_call_id": "call_1"}}]
        )
        got = store.get_messages(sid)
        assert got[0] == msg
        assert got[1]["data"]["tool_call_id"] == "call_1"

    def test_clear_and_list_sessions(self, store: Store) -> None:
        _require(store, "chat")
        ns = _name("ns")
        a, b = "session 'a'", 'session "b"; DROP'
        store.append_messages(a, _messages(2), namespace=ns)
        store.append_messages(b, _messages(1), namespace=ns)
        assert store.list_sessions(namespace=ns) == sorted([a, b])
        store.clear_messages(a, namespace=ns)
        assert store.get_messages(a, namespace=ns) == []
        assert store.get_messages(b, namespace=ns) == _messages(1)
        assert store.list_sessions(namespace=ns) == [b]
        store.clear_messages(_name("never"), namespace=ns)  # clearing nothing is fine

    def test_namespaces_are_isolated(self, store: Store) -> None:
        _require(store, "chat")
        n1, n2 = _name("ns"), _name("ns")
        store.append_messages("same", _messages(2, "one"), namespace=n1)
        store.append_messages("same", _messages(1, "two"), namespace=n2)
        assert store.get_messages("same", namespace=n1) == _messages(2, "one")
        assert store.get_messages("same", namespace=n2) == _messages(1, "two")

    def test_concurrent_appends_keep_every_message(self, store: Store) -> None:
        _require(store, "chat")
        sid = _name("s")

        def work(t: int) -> None:
            for j in range(10):
                store.append_messages(sid, [{"t": t, "j": j}])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        got = store.get_messages(sid)
        assert len(got) == 40
        for t in range(4):
            assert [m["j"] for m in got if m["t"] == t] == list(range(10))


# =============================================================================== key-value
class KeyValueTests(_Base):
    def test_mset_mget_mdelete(self, store: Store) -> None:
        _require(store, "kv")
        c = _name("kv")
        blob = bytes(range(256))
        store.kv_mset(c, {"a": b"1", "b": blob, "c": b""})
        assert store.kv_mget(c, ["b", "zz", "a", "c"]) == [blob, None, b"1", b""]
        store.kv_mset(c, [("a", b"2")])
        assert store.kv_mget(c, ["a"]) == [b"2"]
        store.kv_mdelete(c, ["a", "missing"])
        assert store.kv_mget(c, ["a", "b"]) == [None, blob]

    def test_keys_and_prefix(self, store: Store) -> None:
        _require(store, "kv")
        c = _name("kv")
        keys = ["doc/1", "doc/2", "docx", "a%b", "a_b", "ab", "it's", 'q"', "x\ny", "ü"]
        store.kv_mset(c, {k: k.encode() for k in keys})
        assert store.kv_keys(c) == sorted(keys)
        assert store.kv_keys(c, prefix="doc/") == ["doc/1", "doc/2"]
        assert store.kv_keys(c, prefix="a%") == ["a%b"]
        assert store.kv_keys(c, prefix="a_") == ["a_b"]
        assert store.kv_keys(c, prefix="*") == []
        assert store.kv_mget(c, keys) == [k.encode() for k in keys]

    def test_scan_ranges_in_key_order(self, store: Store) -> None:
        _require(store, "kv")
        c = _name("kv")
        keys = ["doc/1", "doc/2", "docx", "a%b", "a_b", "ab", "it's", 'q"', "x\ny", "ü", "b"]
        store.kv_mset(c, {k: k.encode() for k in keys})
        ordered = sorted(keys)

        def expect(prefix: str | None, after: str | None, limit: int | None, reverse: bool):
            ks = [k for k in sorted(keys, reverse=reverse) if k.startswith(prefix or "")]
            if after is not None:
                ks = [k for k in ks if (k < after if reverse else k > after)]
            return [(k, k.encode()) for k in ks[:limit]]

        for prefix in (None, "doc", "doc/", "a", "zz"):
            for after in (None, "a_b", "doc/1", "docx", "ü"):
                for limit in (None, 1, 2, 50):
                    for reverse in (False, True):
                        got = store.kv_scan(
                            c, prefix=prefix, after=after, limit=limit, reverse=reverse
                        )
                        assert got == expect(prefix, after, limit, reverse), (
                            prefix, after, limit, reverse
                        )
        # Paging with the last key as the next ``after`` visits every item once.
        for reverse in (False, True):
            seen: list[str] = []
            after = None
            while page := store.kv_scan(c, after=after, limit=3, reverse=reverse):
                seen += [k for k, _ in page]
                after = page[-1][0]
            assert seen == (ordered[::-1] if reverse else ordered)
        assert store.kv_scan(_name("kv")) == []

    async def test_async_scan_and_bad_scan_arguments(self, store: Store) -> None:
        _require(store, "kv")
        c = _name("kv")
        store.kv_mset(c, {"k1": b"1", "k2": b"2", "j": b"0"})
        assert await store.akv_scan(c, prefix="k", reverse=True) == [("k2", b"2"), ("k1", b"1")]
        for bad in ({"limit": 0}, {"limit": -1}, {"limit": True}, {"limit": 1.5},
                    {"reverse": "yes"}, {"after": ""}, {"after": 7}, {"prefix": "a\x00"}):
            with pytest.raises(errors.InvalidInputError):
                store.kv_scan(c, **bad)  # type: ignore[arg-type]
            with pytest.raises(errors.InvalidInputError):
                await store.akv_scan(c, **bad)  # type: ignore[arg-type]
        assert store.kv_scan(c) == [("j", b"0"), ("k1", b"1"), ("k2", b"2")]

    def test_kv_collections_are_isolated(self, store: Store) -> None:
        _require(store, "kv")
        c1, c2 = _name("kv"), _name("kv")
        store.kv_mset(c1, {"k": b"one"})
        store.kv_mset(c2, {"k": b"two"})
        assert store.kv_mget(c1, ["k"]) == [b"one"]
        assert store.kv_keys(c2) == ["k"]
        store.kv_mdelete(c1, ["k"])
        assert store.kv_mget(c2, ["k"]) == [b"two"]

    def test_big_batch(self, store: Store) -> None:
        _require(store, "kv")
        c = _name("kv")
        items = {f"key-{i:05d}": f"value {i}".encode() for i in range(2000)}
        store.kv_mset(c, items)
        assert len(store.kv_keys(c)) == 2000
        assert store.kv_mget(c, list(items)) == list(items.values())


# =============================================================================== async
async def _heartbeat(stop: asyncio.Event, lags: list[float], every: float = 0.005) -> None:
    """Wake every ``every`` seconds until ``stop``; record how late each wake-up was."""
    while not stop.is_set():
        due = time.perf_counter() + every
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - due)


class AsyncTests(_Base):
    async def test_async_mirrors_sync(self, store: Store, coll: str) -> None:
        recs = _records(12)
        assert await store.aupsert(coll, recs) == [r.id for r in recs]
        assert await store.acount(coll) == 12
        assert await store.acount(coll, filter={"even": True}) == 6
        got = await store.aget(coll, ["id0003", "id0001"])
        assert [g.id for g in got] == ["id0003", "id0001"]
        a_hits = await store.asearch(coll, recs[5].vector or [], k=3, filter={"even": False})
        s_hits = store.search(coll, recs[5].vector or [], k=3, filter={"even": False})
        assert [h.record.id for h in a_hits] == [h.record.id for h in s_hits]
        assert [h.score for h in a_hits] == pytest.approx([h.score for h in s_hits])
        page = await store.ascan(coll, limit=5)
        assert len(page.records) == 5
        seen = [r.id async for r in store.aiter_records(coll, batch_size=5)]
        assert sorted(seen) == sorted(r.id for r in recs)
        assert await store.adelete(coll, ["id0000"]) == 1
        assert await store.adelete(coll, filter={"even": True}) == 5
        assert await store.acount(coll) == 6
        assert coll in await store.alist_collections()
        info = await store.acollection_info(coll)
        assert info is not None and info.dimension == DIM

    async def test_async_chat_and_kv(self, store: Store) -> None:
        if store.capabilities.chat:
            sid = _name("s")
            await store.aappend_messages(sid, _messages(3))
            assert await store.aget_messages(sid, last_n=1) == _messages(3)[-1:]
            assert sid in await store.alist_sessions()
            await store.aclear_messages(sid)
            assert await store.aget_messages(sid) == []
        if store.capabilities.kv:
            c = _name("kv")
            await store.akv_mset(c, {"a": b"1", "b": b"2"})
            assert await store.akv_mget(c, ["b", "a", "x"]) == [b"2", b"1", None]
            assert await store.akv_keys(c, prefix="a") == ["a"]
            await store.akv_mdelete(c, ["a"])
            assert await store.akv_keys(c) == ["b"]

    async def test_concurrent_async_calls(self, store: Store, coll: str) -> None:
        await store.aensure_collection(coll, DIM)
        batches = [_records(10, seed=s, prefix=f"b{s}-") for s in range(8)]
        await asyncio.gather(*(store.aupsert(coll, b) for b in batches))
        assert await store.acount(coll) == 80
        q = batches[0][0].vector or []
        results = await asyncio.gather(*(store.asearch(coll, q, k=3) for _ in range(8)))
        assert all(r[0].record.id == "b0-0000" for r in results)

    async def test_async_never_runs_backend_io_on_the_loop(
        self, store: Store, coll: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No blocking backend path may run on the event loop's thread during an async call.

        A blocking-only backend runs its operations in a worker thread; a native
        async one awaits its async client and never calls them.
        """
        loop_thread = threading.get_ident()
        on_loop: list[str] = []
        backend = store.backend

        def spy(name: str) -> Callable[..., Any]:
            real = getattr(backend, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if threading.get_ident() == loop_thread:
                    on_loop.append(name)
                return real(*args, **kwargs)

            return wrapper

        for name in BACKEND_SYNC_METHODS:
            monkeypatch.setattr(backend, name, spy(name))
        recs = _records(20)
        await store.aupsert(coll, recs)
        await store.aget(coll, ["id0001"])
        await store.asearch(coll, recs[0].vector or [], k=3, filter={"even": True})
        await store.acount(coll, filter={"i": {"$gte": 10}})
        await store.ascan(coll, limit=5)
        await store.alist_collections()
        if store.capabilities.keyword_search:
            await store.akeyword_search(coll, "text", k=3)
        await store.adelete(coll, ["id0000"])
        await store.adelete(coll, filter={"even": False})
        if store.capabilities.chat:
            sid = _name("s")
            await store.aappend_messages(sid, _messages(2))
            await store.aget_messages(sid)
            await store.alist_sessions()
            await store.aclear_messages(sid)
        if store.capabilities.kv:
            c = _name("kv")
            await store.akv_mset(c, {"a": b"1"})
            await store.akv_mget(c, ["a"])
            await store.akv_keys(c)
            await store.akv_mdelete(c, ["a"])
        await store.adrop_collection(coll)
        assert on_loop == []

    async def test_async_does_not_block_the_loop(self, store: Store, coll: str) -> None:
        """The event loop stays responsive while async calls run.

        A heartbeat task wakes every 5 ms during the workload; its largest delay is
        how long one step held the loop. Blocking I/O holds it for a whole round
        trip or more; a busy shared machine can also delay a wake-up once, so a run
        with a long delay is repeated and only a second one fails. (The
        deterministic check is ``test_async_never_runs_backend_io_on_the_loop``.)
        """
        _require(store, "releases_gil")
        recs = _records(1500, dim=64, seed=2)
        worst = 0.0
        for _ in range(2):
            stop = asyncio.Event()
            lags: list[float] = []
            beat = asyncio.create_task(_heartbeat(stop, lags))
            await asyncio.sleep(0.02)  # the heartbeat is running before the workload
            # A full garbage collection in a big test process stops every thread for
            # a while; that is not the backend blocking the loop, so none runs here.
            gc_was_on = gc.isenabled()
            gc.disable()
            try:
                await store.aupsert(coll, recs)
                for _ in range(3):
                    await store.asearch(coll, recs[0].vector or [], k=10, filter={"even": True})
                await store.acount(coll, filter={"i": {"$gte": 100}})
                await store.adelete(coll, filter={"even": False})
            finally:
                if gc_was_on:
                    gc.enable()
                stop.set()
                await beat
            worst = max(lags, default=0.0)
            if worst < 0.25:
                return
            await store.adelete(coll, filter={})
        raise AssertionError(f"a step held the event loop for {worst:.3f} s in both runs")


# =============================================================================== bad input
class BadInputTests(_Base):
    @pytest.fixture
    def seeded(self, store: Store, coll: str) -> tuple[Store, str]:
        store.upsert(coll, _records(3))
        return store, coll

    def _unchanged(self, store: Store, coll: str) -> None:
        assert store.count(coll) == 3
        assert [r.id for r in store.get(coll, ["id0000", "id0001", "id0002"])] == [
            "id0000", "id0001", "id0002",
        ]
        (r,) = store.get(coll, ["id0001"])
        assert r.text == "text 1" and r.metadata == {"i": 1, "even": False}

    @pytest.mark.parametrize(
        "vector, error",
        [
            ([0.1] * (DIM + 2), errors.DimensionMismatchError),
            ([0.1] * (DIM - 1) + [math.nan], errors.InvalidVectorError),
            ([0.1] * (DIM - 1) + [math.inf], errors.InvalidVectorError),
            ([], errors.InvalidVectorError),
            (None, errors.InvalidVectorError),
            (["a"] * DIM, errors.InvalidVectorError),
            ("not a vector", errors.InvalidVectorError),
        ],
    )
    def test_bad_vectors(self, seeded: tuple[Store, str], vector: Any, error: type) -> None:
        store, coll = seeded
        good = Record("id0001", "changed", unit([1.0] * DIM), {"changed": True})
        with pytest.raises(error):
            store.upsert(coll, [good, Record("new", "x", vector, {})])
        self._unchanged(store, coll)

    @pytest.mark.parametrize("bad_id", ["", None, 7, b"bytes", "nul\x00id"])
    def test_bad_ids(self, seeded: tuple[Store, str], bad_id: Any) -> None:
        store, coll = seeded
        good = Record("id0001", "changed", unit([1.0] * DIM), {})
        with pytest.raises(errors.InvalidIdError):
            store.upsert(coll, [good, Record(bad_id, "x", unit([1.0] * DIM), {})])
        if bad_id is not None:
            with pytest.raises(errors.InvalidIdError):
                store.get(coll, [bad_id])
            with pytest.raises(errors.InvalidIdError):
                store.delete(coll, [bad_id])
        self._unchanged(store, coll)

    @pytest.mark.parametrize(
        "metadata",
        [
            {"obj": object()},
            {"when": time},
            {"x": float("nan")},
            {1: "int key"},
            {"": "empty key"},
            {"s": {1, 2}},
            "not a dict",
            {"n": 2**70},
        ],
    )
    def test_bad_metadata(self, seeded: tuple[Store, str], metadata: Any) -> None:
        store, coll = seeded
        good = Record("id0001", "changed", unit([1.0] * DIM), {})
        with pytest.raises(errors.InvalidMetadataError):
            store.upsert(coll, [good, Record("new", "x", unit([1.0] * DIM), metadata)])
        self._unchanged(store, coll)

    def test_nested_metadata_where_unsupported(self, seeded: tuple[Store, str]) -> None:
        store, coll = seeded
        if store.capabilities.nested_metadata:
            pytest.skip(f"backend {store.backend_name!r} stores nested metadata")
        for md in ({"a": {"b": 1}}, {"a": [1, 2]}, {"a": [{"b": 1}]}):
            with pytest.raises(errors.InvalidMetadataError):
                store.upsert(coll, [Record("new", "x", unit([1.0] * DIM), md)])
        self._unchanged(store, coll)

    def test_bad_names_and_arguments(self, seeded: tuple[Store, str]) -> None:
        store, coll = seeded
        rec = Record("x", "x", unit([1.0] * DIM), {})
        for bad in ("", None, 5, "nul\x00"):
            with pytest.raises(errors.InvalidNameError):
                store.upsert(bad, [rec])  # type: ignore[arg-type]
            if store.capabilities.chat:
                with pytest.raises(errors.InvalidNameError):
                    store.append_messages(bad, [{"a": 1}])  # type: ignore[arg-type]
            if store.capabilities.kv:
                with pytest.raises(errors.InvalidNameError):
                    store.kv_mset(bad, {"a": b"1"})  # type: ignore[arg-type]
        for k in (0, -1, 1.5, "3", True):
            with pytest.raises(errors.InvalidInputError):
                store.search(coll, unit([1.0] * DIM), k=k)  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidInputError):
            store.get(coll, "id0001")  # a bare string, not a list
        if store.capabilities.kv:
            with pytest.raises(errors.InvalidInputError):
                store.kv_mset("kvc", {"a": "not bytes"})  # type: ignore[dict-item]
        if store.capabilities.chat:
            with pytest.raises(errors.InvalidInputError):
                store.append_messages("s", ["not a dict"])  # type: ignore[list-item]
        self._unchanged(store, coll)

    def test_unknown_metric(self, store: Store, coll: str) -> None:
        with pytest.raises(errors.ConfigurationError):
            store.ensure_collection(coll, DIM, "manhattan")
        assert store.collection_info(coll) is None

    def test_ttl_where_unsupported(self, seeded: tuple[Store, str]) -> None:
        store, coll = seeded
        if store.capabilities.ttl:
            pytest.skip(f"backend {store.backend_name!r} supports TTL")
        with pytest.raises(errors.NotSupportedError):
            store.upsert(coll, [Record("new", "x", unit([1.0] * DIM), {})], ttl=10)
        self._unchanged(store, coll)

    def test_closed_store_raises(self, make_store: Callable[[], Store]) -> None:
        s = make_store()
        s.close()
        s.close()  # idempotent
        with pytest.raises(errors.StoreClosedError):
            s.upsert("c", [Record("x", "x", unit([1.0] * DIM), {})])
        with pytest.raises(errors.StoreClosedError):
            s.get_messages("s")
        with pytest.raises(errors.StoreClosedError):
            s.kv_mget("c", ["a"])

    async def test_closed_store_raises_async(self, make_store: Callable[[], Store]) -> None:
        s = make_store()
        await s.aclose()
        with pytest.raises(errors.StoreClosedError):
            await s.acount("c")


# =============================================================================== TTL
class TTLTests(_Base):
    def test_ttl_expires_records_messages_and_items(self, store: Store, coll: str) -> None:
        _require(store, "ttl")
        store.upsert(coll, _records(2, prefix="keep"))
        store.upsert(coll, _records(2, prefix="gone"), ttl=1)
        sid_keep, sid_gone = _name("s"), _name("s")
        store.append_messages(sid_keep, _messages(1))
        store.append_messages(sid_gone, _messages(2), ttl=1)
        kv = _name("kv")
        store.kv_mset(kv, {"keep": b"1"})
        store.kv_mset(kv, {"gone": b"2"}, ttl=1)
        assert store.count(coll) == 4
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            store.count(coll) > 2 or store.get_messages(sid_gone) or store.kv_mget(kv, ["gone"])[0]
        ):
            time.sleep(0.2)
        assert store.count(coll) == 2
        assert {r.id for r in store.iter_records(coll)} == {"keep0000", "keep0001"}
        assert store.get(coll, ["gone0000"]) == []
        assert store.get_messages(sid_gone) == []
        assert store.get_messages(sid_keep) == _messages(1)
        assert store.kv_mget(kv, ["keep", "gone"]) == [b"1", None]
        assert store.kv_keys(kv) == ["keep"]

    @staticmethod
    def _wait_expired(store: Store, coll: str, kv: str, sid: str) -> None:
        """Wait (up to 10 s) until the ttl=1 writes of a test are gone."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            store.count(coll) > 2 or store.get_messages(sid) or store.kv_mget(kv, ["gone"])[0]
        ):
            time.sleep(0.2)

    def test_expired_data_is_invisible_to_every_read(self, store: Store, coll: str) -> None:
        """No read path returns, counts or touches an expired record, message or item."""
        _require(store, "ttl")
        keep = [
            Record(f"keep{i}", "alpha keeper", unit([1.0, i + 1.0] + [0.0] * (DIM - 2)), {"g": 1})
            for i in range(2)
        ]
        gone = [
            Record(f"gone{i}", "alpha leaver", unit([1.0, i + 0.5] + [0.0] * (DIM - 2)), {"g": 1})
            for i in range(2)
        ]
        store.upsert(coll, keep)
        store.upsert(coll, gone, ttl=1)
        sid_keep, sid_gone, ns = _name("s"), _name("s"), _name("ns")
        store.append_messages(sid_keep, _messages(1), namespace=ns)
        store.append_messages(sid_gone, _messages(2), namespace=ns, ttl=1)
        store.append_messages(sid_gone, _messages(1))  # default namespace: to wait on
        kv = _name("kv")
        store.kv_mset(kv, {"keep": b"1", "gone-not": b"3"})
        store.kv_mset(kv, {"gone": b"2", "gone-too": b"4"}, ttl=1)
        store.kv_mset(kv, {"gone-not": b"5"}, ttl=1)
        store.kv_mset(kv, {"gone-not": b"6"})  # rewritten without ttl: permanent again
        assert store.list_sessions(namespace=ns) == sorted([sid_keep, sid_gone])
        store.append_messages(sid_gone, _messages(1), ttl=1)
        self._wait_expired(store, coll, kv, sid_gone)
        if store.get_messages(sid_gone, namespace=ns):  # the loop waits on the other one
            time.sleep(0.5)
        q = keep[0].vector or []
        ids = {"keep0", "keep1"}
        assert {r.id for r in store.get(coll, ["gone0", "gone1", "keep0"])} == {"keep0"}
        assert {h.record.id for h in store.search(coll, q, k=10)} == ids
        assert {h.record.id for h in store.search(coll, q, k=10, filter={"g": 1})} == ids
        assert {r.id for r in store.scan(coll, limit=10).records} == ids
        assert {r.id for r in store.scan(coll, filter={"g": 1}, limit=1).records} <= ids
        assert {r.id for r in store.iter_records(coll, batch_size=1)} == ids
        assert store.count(coll) == 2
        assert store.count(coll, filter={"g": 1}) == 2
        if store.capabilities.keyword_search:
            assert {h.record.id for h in store.keyword_search(coll, "alpha", k=10)} == ids
            assert {
                h.record.id
                for h in store.keyword_search(coll, "leaver", k=10, filter={"g": 1})
            } == set()
        if store.capabilities.hybrid_search:
            assert {h.record.id for h in store.hybrid_search(coll, "alpha", q, k=10)} == ids
        # Deleting what expired counts nothing; deleting what lives counts it.
        assert store.delete(coll, ["gone0", "gone1"]) == 0
        assert store.delete(coll, filter={"g": 1}) == 2
        assert store.count(coll) == 0
        assert store.get_messages(sid_gone, namespace=ns) == []
        assert store.get_messages(sid_gone, namespace=ns, last_n=1) == []
        assert store.get_messages(sid_keep, namespace=ns) == _messages(1)
        assert store.list_sessions(namespace=ns) == [sid_keep]
        assert store.kv_mget(kv, ["keep", "gone", "gone-too", "gone-not"]) == [
            b"1", None, None, b"6"
        ]
        assert store.kv_keys(kv) == ["gone-not", "keep"]
        assert store.kv_keys(kv, prefix="gone") == ["gone-not"]
        # A session that expired starts again empty, and without ttl it stays.
        store.append_messages(sid_gone, _messages(1), namespace=ns)
        assert store.get_messages(sid_gone, namespace=ns) == _messages(1)

    def test_session_expiry_covers_later_writes(self, store: Store) -> None:
        """A session's expiry is the session's: later writes without ttl keep it; a
        write with ttl moves the whole session's expiry."""
        _require(store, "ttl")
        sid, ns = _name("s"), _name("ns")
        store.append_messages(sid, _messages(1), namespace=ns, ttl=1)
        store.append_messages(sid, _messages(2), namespace=ns)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and store.get_messages(sid, namespace=ns):
            time.sleep(0.2)
        assert store.get_messages(sid, namespace=ns) == []
        store.append_messages(sid, _messages(1), namespace=ns, ttl=1)
        store.append_messages(sid, _messages(1), namespace=ns, ttl=60)
        time.sleep(1.5)
        assert len(store.get_messages(sid, namespace=ns)) == 2

    def test_purge_expired(self, store: Store, coll: str) -> None:
        """purge_expired removes what expired, keeps the rest, and reads agree before and after."""
        _require(store, "ttl")
        store.upsert(coll, _records(2, prefix="keep"))
        store.upsert(coll, _records(3, prefix="gone"), ttl=1)
        sid = _name("s")
        store.append_messages(sid, _messages(2), ttl=1)
        kv = _name("kv")
        store.kv_mset(kv, {"keep": b"1"})
        store.kv_mset(kv, {"gone": b"2"}, ttl=1)
        self._wait_expired(store, coll, kv, sid)
        purged = store.purge_expired()
        assert isinstance(purged, int) and purged >= 0
        assert store.purge_expired() == 0  # nothing left to purge
        assert store.count(coll) == 2
        assert {r.id for r in store.iter_records(coll)} == {"keep0000", "keep0001"}
        assert store.kv_keys(kv) == ["keep"]
        assert store.get_messages(sid) == []

    async def test_purge_expired_async(self, store: Store, coll: str) -> None:
        _require(store, "ttl")
        await store.aupsert(coll, _records(1), ttl=60)
        assert await store.apurge_expired() >= 0
        assert await store.acount(coll) == 1

    def test_bad_ttl(self, store: Store, coll: str) -> None:
        _require(store, "ttl")
        for bad in (0, -1, "10", True):
            with pytest.raises(errors.InvalidInputError):
                store.upsert(coll, _records(1), ttl=bad)  # type: ignore[arg-type]
        assert store.count(coll) == 0


# Imported only here: these modules build on _Base and the helpers above.
from .fuzz import FilterFuzzTests  # noqa: E402
from .injection import InjectionTests  # noqa: E402
from .limits import LimitTests  # noqa: E402
from .tenants import TenantTests  # noqa: E402


class ConformanceTests(
    LimitTests,
    FilterFuzzTests,
    InjectionTests,
    RecordTests,
    FilterTests,
    ScoreTests,
    KeywordTests,
    HybridTests,
    ChatTests,
    KeyValueTests,
    AsyncTests,
    BadInputTests,
    TTLTests,
    TenantTests,
):
    """Every conformance mixin; a backend's test class subclasses this and adds make_store."""
