"""`to_sqlite_where`: SQL with only ``?`` parameters, and exactly the reference semantics.

Most of these tests need no store: they run the generated SQL on an in-memory
SQLite table and compare with ``filters.evaluate``, the reference evaluator. The
last ones run filtered searches, which evaluate the same filters with ``to_mask``
on the metadata columns the vector cache keeps, through writes and deletes.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bruno_memory_integrations import Record, Store, open_store
from bruno_memory_integrations.backends.sqlite import SQLiteBackend
from bruno_memory_integrations.backends.sqlite.filters import to_sqlite_where
from bruno_memory_integrations.backends.sqlite.knn import NumpyKnn, SearchFilter, _matching
from bruno_memory_integrations.errors import FilterError
from bruno_memory_integrations.filters import Comparison, FilterNode, Not, evaluate, parse_filter
from bruno_memory_integrations.testing.data import FILTER_CASES, TRICKY_STRINGS, filter_records

#: Keys that break naive JSON-path building or SQL quoting.
TRICKY_KEYS = ['q"uote', "it's", "a.b", "a$b", "[0]", "x[1].y", "back\\slash", "tab\tkey",
               "new\nline", "ü é", "sp ace", "*", "Robert'); DROP TABLE t;--", '"', "'", "."]


_CONSTANTS = {"'text'", "'integer'", "'real'", "'array'", "'null'", "'true'", "'false'", "''",
              "'[]'"}


def _sql(spec: Any, column: str = "metadata") -> tuple[str, list[Any]]:
    return to_sqlite_where(parse_filter(spec), column)


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (id TEXT, metadata TEXT)")
    yield con
    con.close()


Rows = list[tuple[str, dict[str, Any]]]


def _load(con: sqlite3.Connection, rows: Rows) -> None:
    con.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(i, json.dumps(md, ensure_ascii=False, separators=(",", ":"))) for i, md in rows],
    )


def _ids(con: sqlite3.Connection, node: FilterNode | None) -> list[str]:
    sql, params = to_sqlite_where(node)
    return sorted(r[0] for r in con.execute(f"SELECT id FROM t WHERE {sql}", params))


def _want(rows: Rows, node: FilterNode | None) -> list[str]:
    return sorted(i for i, md in rows if evaluate(node, md))


# ============================================================================ no values in SQL
@pytest.mark.parametrize("case", [cid for cid, _ in FILTER_CASES])
def test_sql_has_only_placeholders(case: str) -> None:
    spec = dict(FILTER_CASES)[case]
    sql, params = _sql(spec)
    assert sql.count("?") == len(params)
    for value in _strings(spec):
        if len(value) >= 3:  # short ones ("i", "n") occur in SQL keywords
            assert value not in sql, (value, sql)
    # The only quoted literals are our own constants: JSON type names and ''/'[]'.
    assert set(re.findall(r"'[^']*'", sql)) <= _CONSTANTS, sql


def _strings(spec: Any) -> Iterator[str]:
    if isinstance(spec, dict):
        for k, v in spec.items():
            if not k.startswith("$"):
                yield k
            yield from _strings(v)
    elif isinstance(spec, (list, tuple)):
        for v in spec:
            yield from _strings(v)
    elif isinstance(spec, str):
        yield spec


@pytest.mark.parametrize("value", TRICKY_STRINGS)
def test_sql_depends_only_on_the_filter_shape(value: str) -> None:
    """Any value, however hostile, changes the parameters and never the SQL text."""
    shapes = [
        lambda v: {"k": v},
        lambda v: {"k": {"$in": [v, "other"]}},
        lambda v: {"k": {"$contains": v}},
        lambda v: {"$not": {"k": {"$ne": v}}},
    ]
    for shape in shapes:
        plain_sql, _ = _sql(shape("plain"))
        sql, params = _sql(shape(value))
        assert sql == plain_sql
        assert value in params or json.dumps([value, "other"]) in params


def test_key_is_bound_as_a_json_path_or_compared_as_a_value() -> None:
    sql, params = _sql({"a.b": 1})
    assert params[:2] == ['$."a.b"', '$."a.b"'] and "a.b" not in sql
    sql, params = _sql({'q"k': 1})  # not addressable by a path: matched as a key value
    assert 'q"k' in params and "json_each(metadata)" in sql and 'q"k' not in sql


def test_column_must_be_a_plain_identifier() -> None:
    assert _sql({"a": 1}, "r.metadata")[0].count("r.metadata") >= 1
    for bad in ("metadata; DROP TABLE t", "m)", "'m'", "a.b.c", ""):
        with pytest.raises(ValueError):
            _sql({"a": 1}, bad)


def test_no_filter_is_true() -> None:
    assert to_sqlite_where(None) == ("1", [])


def test_unknown_comparison_is_refused() -> None:
    with pytest.raises(FilterError):
        to_sqlite_where(Comparison("a", "regex", "x.*"))
    with pytest.raises(FilterError):
        to_sqlite_where(Comparison("a", "eq", [1, 2]))
    with pytest.raises(FilterError):
        to_sqlite_where(Comparison("a", "in", ()))


# ============================================================================ semantics
def test_conformance_cases_match_the_reference(db: sqlite3.Connection) -> None:
    rows = [(r.id, r.metadata) for r in filter_records()]
    _load(db, rows)
    for _case, spec in FILTER_CASES:
        node = parse_filter(spec)
        assert _ids(db, node) == _want(rows, node), _case


def test_sqlite_type_affinity_traps(db: sqlite3.Connection) -> None:
    rows: Rows = [
        ("text7", {"v": "7"}), ("int7", {"v": 7}), ("float7", {"v": 7.0}), ("true", {"v": True}),
        ("false", {"v": False}), ("one", {"v": 1}), ("zero", {"v": 0}), ("null", {"v": None}),
        ("missing", {}), ("list", {"v": [7, "7", True]}), ("obj", {"v": {"a": 7}}),
        ("textone", {"v": "1"}), ("texttrue", {"v": "true"}), ("big", {"v": 2**62 + 1}),
    ]
    _load(db, rows)
    cases: dict[str, Any] = {
        "gt5": {"v": {"$gt": 5}},  # TEXT '7' sorts above every number in SQLite
        "eq7": {"v": 7},
        "eq-text7": {"v": "7"},
        "eq-true": {"v": True},  # json_extract gives 1 for true
        "eq-one": {"v": 1},
        "eq-false": {"v": False},
        "eq-zero": {"v": 0},
        "in-bools": {"v": {"$in": [True, False]}},
        "in-nums": {"v": {"$in": [1, 7.0]}},
        "in-texts": {"v": {"$in": ["7", "true"]}},
        "null": {"v": None},
        "exists": {"v": {"$exists": True}},
        "ne7": {"v": {"$ne": 7}},
        "contains7": {"v": {"$contains": 7}},
        "contains-text7": {"v": {"$contains": "7"}},
        "contains-true": {"v": {"$contains": True}},
        "contains-one": {"v": {"$contains": 1}},
        "not-gt5": {"$not": {"v": {"$gt": 5}}},
        "big-exact": {"v": 2**62 + 1},
        "big-gt": {"v": {"$gt": 2**62}},
    }
    for name, spec in cases.items():
        node = parse_filter(spec)
        assert _ids(db, node) == _want(rows, node), name
    assert _ids(db, parse_filter(cases["gt5"])) == ["big", "float7", "int7"]
    assert _ids(db, parse_filter(cases["eq-true"])) == ["true"]
    assert _ids(db, parse_filter(cases["eq-one"])) == ["one"]


def test_not_is_the_full_complement(db: sqlite3.Connection) -> None:
    rows: Rows = [("has", {"a": 1}), ("other", {"a": 2}), ("null", {"a": None}), ("missing", {}),
            ("text", {"a": "1"}), ("list", {"a": [1]})]
    _load(db, rows)
    everyone = sorted(i for i, _ in rows)
    for spec in ({"a": 1}, {"a": {"$gt": 0}}, {"a": {"$in": [1, 2]}}, {"a": {"$contains": 1}},
                 {"a": {"$exists": True}}, {"a": "1"}):
        node = parse_filter(spec)
        assert node is not None
        inside, outside = _ids(db, node), _ids(db, Not(node))
        assert sorted(inside + outside) == everyone, spec
        assert outside == _want(rows, Not(node))


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_tricky_keys(db: sqlite3.Connection, key: str) -> None:
    rows: Rows = [
        ("num", {key: 5, "other": 1}),
        ("text", {key: "five"}),
        ("list", {key: ["five", 5, False]}),
        ("null", {key: None}),
        ("missing", {"other": 5}),
        ("near", {key + "x": 5, key[:-1] or "y": 5}),  # similar keys must not match
    ]
    _load(db, rows)
    for spec in ({key: 5}, {key: "five"}, {key: {"$gte": 5}}, {key: {"$in": ["five"]}},
                 {key: {"$contains": 5}}, {key: {"$contains": False}}, {key: {"$exists": True}},
                 {key: {"$ne": 5}}, {key: None}):
        node = parse_filter(spec)
        assert _ids(db, node) == _want(rows, node), spec
    _, params = _sql({key: {"$contains": "five"}})
    assert key in params or f'$."{key}"' in params


def test_large_in_list_needs_one_parameter(db: sqlite3.Connection) -> None:
    rows = [(f"r{i}", {"n": i}) for i in range(100)]
    _load(db, rows)
    values = list(range(0, 20_000, 2))  # far past SQLite's old host-parameter limit (999)
    _, params = _sql({"n": {"$in": values}})
    assert len(params) == 3  # the JSON path twice (type, value), the list once
    assert _ids(db, parse_filter({"n": {"$in": values}})) == sorted(
        f"r{i}" for i in range(0, 100, 2)
    )


# ============================================================================ randomized
_FIELDS = ["a", "b", 'q"k', "d.e"]
_VALUES: list[Any] = [0, 1, 2, 2.5, -1, "x", "y", "1", True, False]


def _random_value(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.1:
        return None
    if pick < 0.25:
        return [rng.choice(_VALUES) for _ in range(rng.randint(0, 3))]
    if pick < 0.3:
        return {"x": rng.choice(_VALUES)}
    return rng.choice(_VALUES)


def _random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth < 3 and rng.random() < 0.35:
        op = rng.choice(["$and", "$or", "$not"])
        if op == "$not":
            return {"$not": _random_filter(rng, depth + 1)}
        return {op: [_random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]}
    field = rng.choice(_FIELDS)
    op = rng.choice(
        ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"]
    )
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {field: {op: rng.choice([0, 1, 2, 1.5, -3])}}
    if op in ("$in", "$nin"):
        kind: list[Any] = rng.choice([[0, 1, 2, 2.5], ["x", "y", "1"], [True, False]])
        return {field: {op: rng.sample(kind, rng.randint(1, len(kind)))}}
    if op == "$exists":
        return {field: {op: rng.random() < 0.5}}
    if op == "$eq" and rng.random() < 0.15:
        return {field: None}
    return {field: {op: rng.choice(_VALUES)}}


def test_random_filters_match_the_reference(db: sqlite3.Connection) -> None:
    rng = random.Random(20240607)
    rows: Rows = []
    for i in range(150):
        md = {f: _random_value(rng) for f in _FIELDS if rng.random() < 0.75}
        rows.append((f"r{i:03d}", md))
    _load(db, rows)
    for n in range(400):
        spec = _random_filter(rng)
        node = parse_filter(spec)
        assert _ids(db, node) == _want(rows, node), (n, spec)


# ============================================================================ cached columns
# Values whose comparison float64 alone would get wrong, and strings for substrings.
_EDGE_VALUES: list[Any] = [
    2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63) + 1, 2.0**53, 9007199254740993.0, 1e300,
    -0.0, 0.1, 1e-300, "", "Ab*c", "ab?C", "[x]", "ü", "A", 'q"', True, False,
]
_EDGE_OPERANDS: list[Any] = [
    2**53, 2**53 + 1, 2.0**53, 2**63 - 1, 9.3e18, -(2**63) + 1, 0, 0.1, 1e300, -1e-300,
]


def _edge_filter(rng: random.Random, fields: list[str]) -> dict[str, Any]:
    field = rng.choice(fields)
    pick = rng.random()
    if pick < 0.3:
        op = rng.choice(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"])
        return {field: {op: rng.choice(_EDGE_OPERANDS)}}
    if pick < 0.45:
        return {field: {rng.choice(["$in", "$nin"]): rng.sample(_EDGE_OPERANDS, 3)}}
    if pick < 0.65:
        op = rng.choice(["$substring", "$isubstring"])
        return {field: {op: rng.choice(["", "a", "B", "*", "?", "[", "ü", "c"])}}
    if pick < 0.8:
        return {field: {"$contains": rng.choice(_EDGE_VALUES + _VALUES)}}
    return _random_filter(rng)


def _random_metadata(rng: random.Random, fields: list[str]) -> dict[str, Any]:
    md: dict[str, Any] = {}
    for f in fields:
        if rng.random() < 0.75:
            pick = rng.random()
            if pick < 0.3:
                md[f] = rng.choice(_EDGE_VALUES)
            elif pick < 0.4:
                md[f] = [rng.choice([*_EDGE_VALUES, None, [1], {"a": 1}]) for _ in range(3)]
            else:
                md[f] = _random_value(rng)
    return md


def _searched(store: Store, spec: dict[str, Any], n: int) -> list[str]:
    return sorted(h.record.id for h in store.search("c", [1.0, 0.0], k=n, filter=spec))


def test_filtered_search_on_cached_columns_matches_the_reference(tmp_path: Path) -> None:
    """Random filters over hostile values and keys, through appends, replacements and
    deletes (columns extended, rows masked dead) and a compaction (columns rebuilt)."""
    rng = random.Random(7)
    fields = [*_FIELDS, *TRICKY_KEYS[:6]]
    filters = [_random_filter(rng) for _ in range(150)]
    filters += [_edge_filter(rng, fields) for _ in range(250)]
    nodes = [parse_filter(spec) for spec in filters]
    data: dict[str, dict[str, Any]] = {}
    with open_store(f"sqlite:///{tmp_path}/cols.db") as store:
        store.ensure_collection("c", 2, "cosine")

        def write(ids: range) -> None:
            recs = []
            for i in ids:
                md = _random_metadata(rng, fields)
                data[f"r{i:04d}"] = md
                recs.append(Record(f"r{i:04d}", "", [rng.random(), rng.random() + 0.1], md))
            store.upsert("c", recs)

        def check(step: str) -> None:
            for spec, node in zip(filters, nodes, strict=True):
                want = sorted(i for i, md in data.items() if evaluate(node, md))
                assert _searched(store, spec, len(data) + 1) == want, (step, spec)

        write(range(300))
        check("built")
        write(range(250, 400))  # 50 replaced, 100 new: appended rows, dead rows
        for i in rng.sample(range(400), 60):
            data.pop(f"r{i:04d}", None)
            store.delete("c", [f"r{i:04d}"])
        check("extended")
        doomed = [i for i in data if i < "r0300"]
        store.delete("c", doomed)  # most of the buffer dead: compacted
        for i in doomed:
            del data[i]
        write(range(400, 450))
        check("compacted")


def test_columns_that_missed_a_live_row_hand_the_filter_to_sql(tmp_path: Path) -> None:
    """A snapshot older than a column's read sees a row the column never read: the
    columns must say they cannot answer, not treat the row as missing."""
    with open_store(f"sqlite:///{tmp_path}/old.db") as store:
        store.upsert("c", [Record(f"r{i}", "", [1.0, float(i)], {"g": i % 2}) for i in range(8)])
        backend = store.backend
        assert isinstance(backend, SQLiteBackend) and isinstance(backend.knn, NumpyKnn)
        cache = backend.knn.cache
        assert cache is not None
        store.search("c", [1.0, 0.0], k=1)  # vectors cached, no column yet
        old = next(iter(cache._entries.values()))
        store.delete("c", ["r2"])
        assert {h.record.id for h in store.search("c", [1.0, 0.0], k=9, filter={"g": 0})} == {
            "r0", "r4", "r6"
        }  # the column was read now, without r2
        assert old.buffer is next(iter(cache._entries.values())).buffer
        where = SearchFilter(parse_filter({"g": 0}), "1", [], 0.0)
        assert _matching(None, old, where) is False  # r2 is alive in the old snapshot
        new = next(iter(cache._entries.values()))
        mask = _matching(None, new, where)
        assert isinstance(mask, np.ndarray) and int(mask.sum()) == 3
