"""Deterministic data sets the conformance suite writes into every backend."""

from __future__ import annotations

import math
import random
from typing import Any

from ..types import Record

__all__ = [
    "FILTER_CASES",
    "TRICKY_STRINGS",
    "filter_records",
    "random_filter",
    "random_vector",
    "unit",
]

#: Strings that break naive escaping: quotes, SQL, query-language syntax, control chars.
TRICKY_STRINGS = [
    "plain",
    "it's",
    'say "hi"',
    "Robert'); DROP TABLE records;--",
    "a%b_c",
    "back\\slash",
    "tab\there",
    "new\nline",
    "bell\x07 and \x1b[31mescape",
    "@field:{x} | -y ~z *",
    "{curly} [square] (paren)",
    "$gt",
    "emoji \U0001f600 and ümlaut",
    "  spaces  ",
    "*",
    "a:b",
]


def unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


def random_vector(rng: random.Random, dim: int) -> list[float]:
    return unit([rng.uniform(-1, 1) for _ in range(dim)])


def filter_records(dim: int = 8) -> list[Record]:
    """Records whose metadata exercises every filter edge: missing, null, types, lists."""
    rng = random.Random(7)
    colors = ["red", "green", "blue", "it's", 'q"uote', "Red"]
    out: list[Record] = []
    for i in range(40):
        md: dict[str, Any] = {"i": i}
        if i % 5 != 0:
            md["color"] = colors[i % len(colors)]
        if i % 3 == 0:
            md["n"] = i * 1.5  # floats
        elif i % 3 == 1:
            md["n"] = i  # ints
        if i % 7 == 0:
            md["color"] = None  # null behaves as missing
        if i % 4 == 0:
            md["flag"] = i % 8 == 0
        if i % 2 == 0:
            md["tags"] = [colors[(i + j) % len(colors)] for j in range(i % 3 + 1)]
        if i % 6 == 1:
            md["n"] = str(i)  # a number-looking string, not a number
        if i % 9 == 2:
            md["weird key's \"name\""] = "v"
        out.append(Record(f"r{i:02d}", f"record number {i}", random_vector(rng, dim), md))
    return out


#: (case id, filter). Ids are stable, so a backend can name the cases it refuses.
FILTER_CASES: list[tuple[str, dict[str, Any]]] = [
    ("eq-str", {"color": "red"}),
    ("eq-str-op", {"color": {"$eq": "green"}}),
    ("eq-case", {"color": "Red"}),
    ("eq-quote", {"color": "it's"}),
    ("eq-dquote", {"color": 'q"uote'}),
    ("eq-int", {"i": 3}),
    ("eq-int-as-float", {"i": 3.0}),
    ("eq-float", {"n": 4.5}),
    ("eq-bool-true", {"flag": True}),
    ("eq-bool-false", {"flag": False}),
    ("eq-null", {"color": None}),
    ("eq-numstr", {"n": "7"}),
    ("ne-str", {"color": {"$ne": "red"}}),
    ("ne-null", {"color": {"$ne": None}}),
    ("ne-bool", {"flag": {"$ne": True}}),
    ("gt", {"i": {"$gt": 30}}),
    ("gte", {"i": {"$gte": 30}}),
    ("lt", {"i": {"$lt": 5}}),
    ("lte", {"i": {"$lte": 5}}),
    ("gt-float", {"n": {"$gt": 20.25}}),
    ("range", {"i": {"$gte": 10, "$lt": 20}}),
    ("range-mixed-types", {"n": {"$gt": 5}}),
    ("lt-negative", {"i": {"$lt": -1}}),
    ("in-str", {"color": {"$in": ["red", "blue"]}}),
    ("in-int", {"i": {"$in": [1, 2, 3, 39]}}),
    ("in-one", {"color": {"$in": ["green"]}}),
    ("nin-str", {"color": {"$nin": ["red", "blue"]}}),
    ("nin-int", {"i": {"$nin": [0, 1]}}),
    ("exists", {"flag": {"$exists": True}}),
    ("not-exists", {"flag": {"$exists": False}}),
    ("exists-null", {"color": {"$exists": True}}),
    ("contains", {"tags": {"$contains": "red"}}),
    ("contains-quote", {"tags": {"$contains": "it's"}}),
    ("contains-missing", {"tags": {"$contains": "purple"}}),
    ("and", {"$and": [{"color": "red"}, {"i": {"$gt": 10}}]}),
    ("implicit-and", {"color": "green", "n": {"$exists": True}}),
    ("or", {"$or": [{"color": "red"}, {"flag": True}]}),
    ("not", {"$not": {"color": "red"}}),
    ("not-range", {"$not": {"i": {"$gte": 5}}}),
    (
        "nested",
        {
            "$or": [
                {"$and": [{"color": "blue"}, {"i": {"$lt": 20}}]},
                {"$not": {"n": {"$exists": True}}},
            ]
        },
    ),
    ("not-or", {"$not": {"$or": [{"color": "red"}, {"color": "green"}]}}),
    ("not-and", {"$not": {"$and": [{"i": {"$gt": 3}}, {"flag": {"$exists": True}}]}}),
    ("double-not", {"$not": {"$not": {"color": "blue"}}}),
    ("weird-key", {'weird key\'s "name"': "v"}),
    ("no-match", {"color": "purple"}),
    ("missing-field", {"nope": {"$ne": 1}}),
    ("sql-value", {"color": "Robert'); DROP TABLE records;--"}),
]


_FIELD_VALUES: dict[str, list[Any]] = {
    "i": [0, 3, 7, 12.0, 20, 39, 41],
    "n": [1, 4.5, 7, 10, 20.25, "7", "13"],
    "color": ["red", "green", "blue", "it's", 'q"uote', "Red", "purple"],
    "flag": [True, False],
    "tags": ["red", "green", "it's", "purple"],
    "nope": [1, "x"],
}


def random_filter(rng: random.Random, depth: int = 3) -> dict[str, Any]:
    """A random well-formed filter over the fields of :func:`filter_records`."""
    roll = rng.random()
    if depth > 0 and roll < 0.3:
        op = rng.choice(["$and", "$or"])
        return {op: [random_filter(rng, depth - 1) for _ in range(rng.randint(2, 3))]}
    if depth > 0 and roll < 0.4:
        return {"$not": random_filter(rng, depth - 1)}
    field = rng.choice(list(_FIELD_VALUES))
    values = _FIELD_VALUES[field]
    value = rng.choice(values)
    if field == "tags":
        if rng.random() < 0.8:
            return {field: {"$contains": value}}
        return {field: {"$exists": rng.random() < 0.5}}
    ops = ["$eq", "$ne", "$in", "$nin", "$exists"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ops += ["$gt", "$gte", "$lt", "$lte"]
    op = rng.choice(ops)
    if op == "$exists":
        return {field: {op: rng.random() < 0.5}}
    if op in ("$in", "$nin"):
        same_kind = [v for v in values if type(v) is type(value) or (
            isinstance(v, (int, float)) and isinstance(value, (int, float))
            and not isinstance(v, bool) and not isinstance(value, bool))]
        return {field: {op: rng.sample(same_kind, k=min(len(same_kind), rng.randint(1, 3)))}}
    if op == "$eq" and rng.random() < 0.3:
        return {field: value}  # the shorthand
    return {field: {op: value}}
