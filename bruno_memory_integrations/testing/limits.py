"""The package's documented limits and edge rules, checked on every backend.

Each test states one rule of the core (docs/filters.md, docs/architecture.md) and
checks that every backend follows it exactly: numbers compare by value, vectors
are float32 within bounds, filters up to the depth and size limits work and
beyond them fail with :class:`FilterError`, scan cursors and key prefixes are
checked, ids / keys / names have one length limit, and ``$substring`` matches
literally.
"""

from __future__ import annotations

import functools
import random
from array import array
from typing import Any

import pytest

from .. import errors
from ..filters import MAX_CONDITIONS, MAX_DEPTH, MAX_IN_VALUES, And, Comparison, Not
from ..store import Store
from ..types import Record
from ..validation import MAX_KEY_BYTES, MAX_VECTOR_COMPONENT
from .conformance import DIM, _Base, _name, _records, _require
from .data import random_vector, unit
from .fuzz import WORD, FilterOracle, write_with_churn

__all__ = ["LimitTests", "exact_bytes"]


def exact_bytes(size: int, rng: random.Random) -> str:
    """A random string of exactly ``size`` bytes of UTF-8, mixing 1- to 4-byte
    characters (random, so nothing can compress it), without NUL or surrogates."""
    ranges = [(0x21, 0x7E), (0xA1, 0x7FF), (0x800, 0xD7FF), (0x10000, 0x10FFFF)]
    out: list[str] = []
    left = size
    while left:
        width = rng.randint(1, min(4, left))
        lo, hi = ranges[width - 1]
        out.append(chr(rng.randint(lo, hi)))
        left -= width
    text = "".join(out)
    assert len(text.encode("utf-8")) == size
    return text


def _api_calls(store: Store) -> list[str]:
    apis = ["count", "scan", "scan-pages", "search"]
    if store.capabilities.keyword_search:
        apis.append("keyword")
    if store.capabilities.hybrid_search:
        apis.append("hybrid")
    return apis


async def _check_everywhere(oracle: FilterOracle, spec: Any, delete: bool = False) -> None:
    for api in _api_calls(oracle.store):
        oracle.check(api, spec)
    await oracle.acheck("acount", spec)
    await oracle.acheck("ascan", spec)
    if delete:
        oracle.check("delete", spec)


# Keys whose SQL needs the most nesting: quotes make SQLite use json_each.
_ODD = 'o"dd\\key'


def _leaf(i: int, substring: bool) -> dict[str, Any]:
    k = i % 6
    if k == 0:
        return {_ODD: {"$ne": f"v{i % 9}"}}
    if k == 1:
        return {"tags": {"$contains": f"t{i % 7}"}}
    if k == 2 and substring:
        return {_ODD: {"$isubstring": f"V{i % 3}"}}
    if k == 3:
        return {"n": {"$gte": i % 30}}
    if k == 4:
        return {"s": {"$nin": ["a", "b", f"s{i % 5}"]}}
    return {"flag": {"$exists": bool(i % 2)}}


@functools.lru_cache(maxsize=2)
def deep_filters(substring: bool) -> dict[str, dict[str, Any]]:
    """Filters exactly at the limits, in the shapes that nest SQL and queries most."""
    # A comb: MAX_DEPTH levels cycling $and, $or, $not, each with siblings and
    # implicit ANDs of several keys, the deepest leaf a json_each lookup.
    comb: dict[str, Any] = {**_leaf(0, substring), "n": {"$ne": 3}}
    for d in range(MAX_DEPTH):
        op = ("$and", "$or", "$not")[d % 3]
        if op == "$not":
            comb = {"$not": comb}
        else:
            comb = {op: [comb, _leaf(d, substring), {**_leaf(d + 1, substring), "i": {"$lt": d}}]}
    nots: dict[str, Any] = _leaf(0, substring)
    for _ in range(MAX_DEPTH):
        nots = {"$not": nots}

    counter = [0]

    def binary(level: int) -> dict[str, Any]:
        if level == 0:
            counter[0] += 1
            return _leaf(counter[0], substring)
        return {("$and", "$or")[level % 2]: [binary(level - 1), binary(level - 1)]}

    per_level = MAX_CONDITIONS // MAX_DEPTH
    wide: dict[str, Any] = _leaf(0, substring)
    for d in range(MAX_DEPTH - 1):
        siblings = [_leaf(d * per_level + j, substring) for j in range(1, per_level)]
        wide = {("$and", "$or")[d % 2]: [wide, *siblings]}
    flat = [_leaf(i, substring) for i in range(MAX_CONDITIONS)]
    return {
        "comb": comb,
        "not-chain": nots,
        "binary-1024": binary(10),
        "wide-comb": wide,
        "flat-and": {"$and": flat},
        "flat-or": {"$or": flat},
        "in-strings": {"s": {"$in": [f"s{i}" for i in range(MAX_IN_VALUES)]}},
        "nin-numbers": {"n": {"$nin": list(range(5, 5 + MAX_IN_VALUES))}},
    }


@functools.lru_cache(maxsize=1)
def over_limit_filters() -> dict[str, Any]:
    nested: dict[str, Any] = {"n": 1}
    for _ in range(MAX_DEPTH + 1):
        nested = {"$not": nested}
    hostile: dict[str, Any] = {"n": 1}
    for _ in range(100_000):  # far past Python's recursion limit
        hostile = {"$and": [hostile]}
    tree: Any = Comparison("n", "eq", 1)
    for _ in range(1000):
        tree = Not(tree)
    return {
        "depth": nested,
        "very-deep": hostile,
        "conditions": {"$or": [{"n": i} for i in range(MAX_CONDITIONS + 1)]},
        "implicit-conditions": {f"k{i}": i for i in range(MAX_CONDITIONS + 1)},
        "in-values": {"s": {"$in": [f"s{i}" for i in range(MAX_IN_VALUES + 1)]}},
        "tree-depth": tree,
        "tree-size": And(tuple(Comparison("n", "eq", i) for i in range(MAX_CONDITIONS + 1))),
    }


class LimitTests(_Base):
    """Limits and edge rules, the same on every backend."""

    # ------------------------------------------------------------- numbers
    async def test_big_numbers_compare_by_value(self, store: Store, coll: str) -> None:
        values: list[Any] = [
            9.123456789012345e18, 9123456789012344832, 9123456789012345000, 2**53, 2**53 + 1,
            float(2**53), 2**63 - 1, -(2**63 - 1), -9.123456789012345e18, 1e300, 1.8e19,
            1e16, 1e17, 2**53 - 1, 1.5, -0.0, 0, 7,
        ]
        rng = random.Random(5)
        records = [
            Record(f"b{i:02d}", f"{WORD} {i}", random_vector(rng, DIM), {"v": v})
            for i, v in enumerate(values)
        ]
        store.upsert(coll, records)
        # Stored values keep their value (an int may come back for a whole float that
        # fits 64 bits). A float beyond the 64-bit range comes back as a float: no
        # integer that large can be stored, so it cannot be mistaken for one.
        for rec, got in zip(records, store.get(coll, [r.id for r in records]), strict=True):
            want, have = rec.metadata["v"], got.metadata["v"]
            assert have == want, (want, have)
            if isinstance(want, float) and abs(want) >= 2**63:
                assert type(have) is float, (want, have)
        oracle = FilterOracle(store, coll, records, self.refused_features(store))
        operands: list[Any] = [
            9123456789012344832, 9.123456789012345e18, 9123456789012345000, 2**53 + 1,
            float(2**53), 2**62, 1e300, 2**63 - 1, 1e17, 2**52, -(2**52), 0, -0.0, 1.5,
        ]
        for x in operands:
            for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"):
                await _check_everywhere(oracle, {"v": {op: x}})
            await _check_everywhere(oracle, {"v": {"$in": [x, 7]}})
        oracle.check("delete", {"v": {"$gte": 2**52}})
        for bad in (2**63, -(2**64), 10**30):
            with pytest.raises(errors.FilterError, match="64-bit"):
                store.count(coll, filter={"v": bad})
        assert store.count(coll) == len(records)

    # ------------------------------------------------------------- vectors
    def test_vectors_are_float32_within_bounds(self, store: Store, coll: str) -> None:
        v = [0.1, 1 / 3, -2 / 3, 1e16, -1e-16, 0.0, 123.456, -7e-8][:DIM]
        v += [0.5] * (DIM - len(v))
        as_float32 = array("f", v).tolist()
        store.upsert(coll, [Record("x", "x", v, {}), Record("y", "y", unit([1.0] * DIM), {})])
        (got,) = store.get(coll, ["x"])
        assert got.vector == as_float32  # exactly, on every backend
        (page_rec,) = [r for r in store.scan(coll, include_vectors=True).records if r.id == "x"]
        assert page_rec.vector == as_float32
        hits = store.search(coll, v, k=2, include_vectors=True)
        assert hits[0].record.id == "x" and hits[0].record.vector == as_float32
        for h in hits:
            assert 0.0 <= h.score <= 1.0

        good = Record("y", "changed", unit([2.0] * DIM), {"changed": True})
        for bad in (1e39, -1e39, MAX_VECTOR_COMPONENT * 10, 3.5e38, 10**40):
            vec = [0.1] * (DIM - 1) + [bad]
            with pytest.raises(errors.InvalidVectorError):
                store.upsert(coll, [good, Record("z", "z", vec, {})])
            with pytest.raises(errors.InvalidVectorError):
                store.search(coll, vec, k=1)
        with pytest.raises(errors.InvalidVectorError, match="underflow"):
            store.upsert(coll, [good, Record("z", "z", [1e-20] * DIM, {})])
        assert store.count(coll) == 2
        assert store.get(coll, ["y"])[0].text == "y"

    def test_large_vectors_rank_without_overflow(self, store: Store) -> None:
        for metric in store.capabilities.metrics:
            coll = _name("big")
            try:
                store.ensure_collection(coll, DIM, metric)
                big = [MAX_VECTOR_COMPONENT] * DIM
                rng = random.Random(9)
                recs = [Record("big", "", big, {}), Record("neg", "", [-x for x in big], {})]
                recs += [Record(f"r{i}", "", random_vector(rng, DIM), {}) for i in range(6)]
                store.upsert(coll, recs)
                hits = store.search(coll, big, k=len(recs))
                assert len(hits) == len(recs)
                assert hits[0].record.id == "big", (metric, [h.record.id for h in hits])
                assert hits[-1].record.id == "neg", (metric, [h.record.id for h in hits])
                for h in hits:
                    assert 0.0 <= h.score <= 1.0, (metric, h)
                    assert h.distance is not None and h.distance == h.distance  # not NaN
            finally:
                store.drop_collection(coll)

    # ------------------------------------------------------------- deep filters
    @pytest.fixture
    def limit_data(self, store: Store, coll: str) -> list[Record]:
        rng = random.Random(17)
        records = []
        for i in range(30):
            md: dict[str, Any] = {"i": i, "n": i, "s": f"s{i % 5}", "tags": [f"t{i % 7}"]}
            if i % 3:
                md[_ODD] = f"v{i % 9}" if i % 4 else f"V{i % 3}x"
            if i % 2:
                md["flag"] = bool(i % 4)
            records.append(Record(f"d{i:02d}", f"{WORD} {i}", random_vector(rng, DIM), md))
        write_with_churn(store, coll, records)
        return records

    @pytest.mark.parametrize(
        "shape",
        ["comb", "not-chain", "binary-1024", "wide-comb", "flat-and", "flat-or",
         "in-strings", "nin-numbers"],
    )
    async def test_filters_at_the_limits_work(
        self, store: Store, coll: str, limit_data: list[Record], shape: str
    ) -> None:
        from .fuzz import SUBSTRING

        substring = SUBSTRING not in self.refused_features(store)
        spec = deep_filters(substring)[shape]
        oracle = FilterOracle(store, coll, limit_data, self.refused_features(store))
        await _check_everywhere(oracle, spec, delete=True)
        assert oracle.refusals == 0

    @pytest.mark.parametrize(
        "case",
        ["depth", "very-deep", "conditions", "implicit-conditions", "in-values", "tree-depth",
         "tree-size"],
    )
    async def test_filters_beyond_the_limits_raise_filter_error(
        self, store: Store, coll: str, case: str
    ) -> None:
        store.upsert(coll, _records(3))
        spec = over_limit_filters()[case]
        calls = [
            lambda: store.count(coll, filter=spec),
            lambda: store.scan(coll, filter=spec),
            lambda: store.search(coll, unit([1.0] * DIM), filter=spec),
            lambda: store.delete(coll, filter=spec),
        ]
        if store.capabilities.keyword_search:
            calls.append(lambda: store.keyword_search(coll, "text", filter=spec))
        for call in calls:
            with pytest.raises(errors.FilterError):
                call()
        with pytest.raises(errors.FilterError):
            await store.acount(coll, filter=spec)
        assert store.count(coll) == 3

    # ------------------------------------------------------------- cursors
    @pytest.mark.parametrize(
        "cursor", [1, 1.5, True, b"id0001", ["id0001"], {"id": 1}, "", "a\x00b", "x\ud800"]
    )
    async def test_scan_cursor_is_checked(self, store: Store, coll: str, cursor: Any) -> None:
        store.upsert(coll, _records(5))
        with pytest.raises(errors.InvalidInputError, match="cursor"):
            store.scan(coll, limit=2, cursor=cursor)
        with pytest.raises(errors.InvalidInputError, match="cursor"):
            await store.ascan(coll, limit=2, cursor=cursor)
        with pytest.raises(errors.InvalidInputError, match="cursor"):
            store.scan(_name("nocoll"), limit=2, cursor=cursor)  # checked before any read
        first = store.scan(coll, limit=2)
        assert first.cursor is not None
        rest = store.scan(coll, limit=10, cursor=first.cursor)
        assert sorted(r.id for r in first.records + rest.records) == [
            f"id{i:04d}" for i in range(5)
        ]

    # ------------------------------------------------------------- NUL and surrogates
    @pytest.mark.parametrize("bad", ["a\x00b", "\x00", "lone \ud800", "\udfff"])
    async def test_nul_and_lone_surrogates_in_filters_raise_filter_error(
        self, store: Store, coll: str, bad: str
    ) -> None:
        store.upsert(coll, _records(3))
        specs: list[dict[str, Any]] = [
            {"k": bad},
            {"k": {"$ne": bad}},
            {"k": {"$in": ["ok", bad]}},
            {"k": {"$nin": [bad]}},
            {"k": {"$contains": bad}},
            {"k": {"$substring": bad}},
            {"k": {"$isubstring": bad}},
            {bad: 1},
            {"$or": [{"i": 1}, {"$not": {"k": bad}}]},
        ]
        for spec in specs:
            with pytest.raises(errors.FilterError):
                store.count(coll, filter=spec)
            with pytest.raises(errors.FilterError):
                store.delete(coll, filter=spec)
            with pytest.raises(errors.FilterError):
                store.search(coll, unit([1.0] * DIM), filter=spec)
            with pytest.raises(errors.FilterError):
                await store.ascan(coll, filter=spec)
        assert store.count(coll) == 3

    @pytest.mark.parametrize("bad", ["a\x00", "\x00", "k\ud800", "\udc00"])
    async def test_nul_and_lone_surrogates_in_key_prefixes_are_refused(
        self, store: Store, bad: str
    ) -> None:
        _require(store, "kv")
        c = _name("kv")
        store.kv_mset(c, {"a": b"1", "k": b"2"})
        with pytest.raises(errors.InvalidInputError, match="prefix"):
            store.kv_keys(c, prefix=bad)
        with pytest.raises(errors.InvalidInputError, match="prefix"):
            await store.akv_keys(c, prefix=bad)
        with pytest.raises(errors.InvalidInputError, match="prefix"):
            store.kv_keys(c, prefix=7)  # type: ignore[arg-type]
        assert store.kv_keys(c, prefix="") == ["a", "k"]

    # ------------------------------------------------------------- ids, keys, names
    def test_ids_keys_and_names_have_one_length_limit(self, store: Store) -> None:
        rng = random.Random(23)
        longest = [exact_bytes(MAX_KEY_BYTES, rng) for _ in range(3)]
        coll = longest[0]
        try:
            ids = [longest[1], longest[2], "short"]
            recs = [Record(i, "t", random_vector(rng, DIM), {"k": i}) for i in ids]
            assert store.upsert(coll, recs) == ids
            assert [r.id for r in store.get(coll, ids)] == ids
            assert store.count(coll, filter={"k": longest[1]}) == 1
            assert store.search(coll, recs[0].vector or [], k=1)[0].record.id == ids[0]
            assert store.delete(coll, [ids[0]]) == 1
            assert coll in store.list_collections()
            too_long = longest[2] + "x"
            with pytest.raises(errors.InvalidIdError, match=str(MAX_KEY_BYTES)):
                store.upsert(coll, [recs[2], Record(too_long, "t", recs[0].vector, {})])
            with pytest.raises(errors.InvalidIdError):
                store.get(coll, [too_long])
            # Far beyond: past what one PostgreSQL index entry holds (about 2 700 bytes).
            huge = exact_bytes(3000, rng)
            with pytest.raises(errors.InvalidIdError, match=str(MAX_KEY_BYTES)):
                store.upsert(coll, [Record(huge, "t", recs[0].vector, {})])
            with pytest.raises(errors.InvalidNameError, match=str(MAX_KEY_BYTES)):
                store.upsert(coll + "x", recs)
            assert store.count(coll) == 2
        finally:
            store.drop_collection(coll)
        if store.capabilities.kv:
            kvc = exact_bytes(MAX_KEY_BYTES, rng)
            keys = [exact_bytes(MAX_KEY_BYTES, rng) for _ in range(3)]
            store.kv_mset(kvc, {k: k.encode() for k in keys})
            assert store.kv_mget(kvc, keys) == [k.encode() for k in keys]
            assert store.kv_keys(kvc) == sorted(keys)
            with pytest.raises(errors.InvalidIdError):
                store.kv_mset(kvc, {keys[0] + "é": b"x"})
            with pytest.raises(errors.InvalidIdError):
                store.kv_mset(kvc, {exact_bytes(3000, rng): b"x"})
            store.kv_mdelete(kvc, keys)
            assert store.kv_keys(kvc) == []
        if store.capabilities.chat:
            ns, sid = exact_bytes(MAX_KEY_BYTES, rng), exact_bytes(MAX_KEY_BYTES, rng)
            store.append_messages(sid, [{"a": 1}], namespace=ns)
            assert store.get_messages(sid, namespace=ns) == [{"a": 1}]
            assert store.list_sessions(namespace=ns) == [sid]
            with pytest.raises(errors.InvalidNameError):
                store.append_messages(sid + "a", [{"a": 2}], namespace=ns)
            store.clear_messages(sid, namespace=ns)

    # ------------------------------------------------------------- substring
    async def test_substring_filters_match_literally(self, store: Store, coll: str) -> None:
        texts = [
            "100% sure", "100 percent", "a_b", "axb", "a*b", "ab", "what?", "wh", "[x]", "x",
            "back\\slash", "Mixed Case", "mixed case", "MIXED", "ÄÖÜ", "äöü", "e\u0301",
            "İstanbul", "istanbul", "\U0001f600 emoji", "", " ", "K", "\u212a",
        ]
        rng = random.Random(31)
        records = [
            Record(f"s{i:02d}", f"{WORD} {i}", random_vector(rng, DIM), {"s": t, "n": i})
            for i, t in enumerate(texts)
        ]
        records += [
            Record("list", f"{WORD} list", random_vector(rng, DIM), {"s": ["100% sure"]}),
            Record("num", f"{WORD} num", random_vector(rng, DIM), {"s": 100}),
            Record("none", f"{WORD} none", random_vector(rng, DIM), {"n": 0}),
        ]
        store.upsert(coll, records)
        oracle = FilterOracle(store, coll, records, self.refused_features(store))
        operands = [
            "%", "_", "*", "?", "[x]", "[", "\\", "a_b", "a*b", "0%", "", " ", "case",
            "Case", "MIXED", "mixed", "ä", "Ä", "i", "I", "\U0001f600", "\u0301", "k",
        ]
        for x in operands:
            for op in ("$substring", "$isubstring"):
                await _check_everywhere(oracle, {"s": {op: x}})
                oracle.check("count", {"$not": {"s": {op: x}}})
        oracle.check("delete", {"s": {"$isubstring": "MIXED"}})
        for bad in (5, None, ["a"], True):
            with pytest.raises(errors.FilterError):
                store.count(coll, filter={"s": {"$substring": bad}})
