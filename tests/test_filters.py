"""The filter language: parsing, normal form and the reference evaluator (no store)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bruno_memory_integrations.errors import FilterError
from bruno_memory_integrations.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_TREE_DEPTH,
    And,
    Comparison,
    Not,
    Or,
    evaluate,
    fields_of,
    fold,
    matches,
    parse_filter,
    simplify,
    to_negation_normal_form,
)
from bruno_memory_integrations.testing.data import FILTER_CASES, filter_records


def test_empty_and_none_mean_everything() -> None:
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    assert matches({}, {"a": 1})


def test_shorthand_equals_explicit_eq() -> None:
    assert parse_filter({"a": 1}) == parse_filter({"a": {"$eq": 1}}) == Comparison("a", "eq", 1)


def test_negations_become_not_of_a_primitive() -> None:
    assert parse_filter({"a": {"$ne": 1}}) == Not(Comparison("a", "eq", 1))
    assert parse_filter({"a": {"$nin": [1, 2]}}) == Not(Comparison("a", "in", (1, 2)))
    assert parse_filter({"a": {"$exists": False}}) == Not(Comparison("a", "exists", True))
    assert parse_filter({"a": None}) == Not(Comparison("a", "exists", True))
    assert parse_filter({"a": {"$ne": None}}) == Not(Not(Comparison("a", "exists", True)))


def test_several_keys_and_operators_are_anded() -> None:
    node = parse_filter({"a": 1, "b": {"$gt": 2, "$lt": 5}})
    assert node == And(
        (Comparison("a", "eq", 1), Comparison("b", "gt", 2), Comparison("b", "lt", 5))
    )


@pytest.mark.parametrize(
    "metadata, spec, expected",
    [
        ({}, {"a": {"$ne": 1}}, True),  # missing field is "not equal"
        ({"a": None}, {"a": None}, True),  # null is missing
        ({"a": None}, {"a": {"$exists": True}}, False),
        ({"a": 1}, {"a": 1.0}, True),  # numbers compare numerically
        ({"a": True}, {"a": 1}, False),  # bools are not numbers
        ({"a": 1}, {"a": True}, False),
        ({"a": "1"}, {"a": 1}, False),  # strings are not numbers
        ({"a": "9"}, {"a": {"$gt": 5}}, False),
        ({"a": ["x", "y"]}, {"a": "x"}, False),  # $eq never matches a list
        ({"a": ["x", "y"]}, {"a": {"$contains": "x"}}, True),
        ({"a": "xyz"}, {"a": {"$contains": "x"}}, False),  # not a substring test
        ({"a": 3}, {"a": {"$in": [1, 3]}}, True),
        ({}, {"a": {"$nin": [1, 3]}}, True),
        ({"a": 2}, {"$not": {"a": {"$gt": 1}}}, False),
        ({}, {"$not": {"a": {"$gt": 1}}}, True),
        ({"a": "Red"}, {"a": "red"}, False),  # case-sensitive
    ],
)
def test_reference_semantics(metadata: dict, spec: dict, expected: bool) -> None:
    assert matches(spec, metadata) is expected


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"a": {"$regex": "x"}}, "unknown filter operator"),
        ({"$nor": []}, "unknown filter operator"),
        ({"a": {"$gt": "5"}}, "takes a number"),
        ({"a": {"$gt": True}}, "takes a number"),
        ({"a": {"$in": []}}, "non-empty list"),
        ({"a": {"$in": "abc"}}, "non-empty list"),
        ({"a": {"$in": [1, "a"]}}, "mixes"),
        ({"a": [1, 2]}, "takes a string, number or boolean"),
        ({"a": {"b": 1}}, "dict of operators"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$not": {}}, "empty filter"),
        ({"a": {"$exists": 1}}, "true or false"),
        ({"": 1}, "non-empty string"),
        ({"a": float("inf")}, "finite"),
        ("a == 1", "must be a dict"),
    ],
)
def test_malformed_filters_say_what_is_wrong(bad: object, words: str) -> None:
    with pytest.raises(FilterError, match=words):
        parse_filter(bad)  # type: ignore[arg-type]


def test_negation_normal_form_preserves_meaning() -> None:
    recs = filter_records()
    for cid, spec in FILTER_CASES:
        node = parse_filter(spec)
        nnf = to_negation_normal_form(node)  # type: ignore[arg-type]

        def only_leaf_nots(n: object) -> bool:
            if isinstance(n, Not):
                return isinstance(n.child, Comparison)
            if isinstance(n, (And, Or)):
                return all(only_leaf_nots(c) for c in n.children)
            return True

        assert only_leaf_nots(nnf), cid
        for r in recs:
            assert evaluate(nnf, r.metadata) == evaluate(node, r.metadata), (cid, r.id)


def test_fold_walks_every_node() -> None:
    node = parse_filter(
        {"$or": [{"a": 1}, {"$not": {"b": {"$in": [1, 2]}}}], "c": {"$exists": True}}
    )
    text = fold(
        node,  # type: ignore[arg-type]
        lambda c: f"{c.field}.{c.op}",
        lambda parts: "(" + " & ".join(parts) + ")",
        lambda parts: "(" + " | ".join(parts) + ")",
        lambda part: f"!{part}",
    )
    assert text == "((a.eq | !b.in) & c.exists)"
    assert fields_of(node) == {"a", "b", "c"}


def test_de_morgan_exhaustively_on_small_tree() -> None:
    leaves = [{"a": 1}, {"b": {"$exists": True}}, {"a": {"$gt": 0}}]
    values = [{}, {"a": 1}, {"a": 2}, {"b": 0}, {"a": 1, "b": None}, {"a": -1, "b": "x"}]
    for x, y in itertools.product(leaves, repeat=2):
        for spec in ({"$not": {"$and": [x, y]}}, {"$not": {"$or": [x, {"$not": y}]}}):
            node = parse_filter(spec)
            nnf = to_negation_normal_form(node)  # type: ignore[arg-type]
            for md in values:
                assert evaluate(nnf, md) == evaluate(node, md)


# ------------------------------------------------------------------ limits and edge rules
def _nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    """The deepest tree per level: operator, implicit AND, a negation at the bottom."""
    spec = leaf
    for i in range(depth):
        op = ("$and", "$or", "$not")[i % 3]
        if op == "$not":
            spec = {"$not": spec, f"z{i}": {"$ne": i}}
        else:
            spec = {op: [spec, {"y": 1}], f"z{i}": {"$ne": i}}
    return spec


def _tree_depth(node: Any) -> int:
    if isinstance(node, Comparison):
        return 1
    if isinstance(node, Not):
        return 1 + _tree_depth(node.child)
    return 1 + max(_tree_depth(c) for c in node.children)


def test_depth_limit_is_exact_and_trees_round_trip() -> None:
    leaf = {"a": {"$ne": 1}, "b": 2}
    node = parse_filter(_nested(MAX_DEPTH, leaf))
    assert node is not None and _tree_depth(node) == MAX_TREE_DEPTH
    assert parse_filter(node) is node  # a parsed tree is accepted again as is
    with pytest.raises(FilterError, match=f"at most {MAX_DEPTH} deep"):
        parse_filter(_nested(MAX_DEPTH + 1, leaf))
    very_deep: dict[str, Any] = {"a": 1}
    for _ in range(50_000):  # no RecursionError, however deep
        very_deep = {"$not": very_deep}
    with pytest.raises(FilterError):
        parse_filter(very_deep)
    tree: Any = Comparison("a", "eq", 1)
    for _ in range(MAX_TREE_DEPTH):
        tree = Not(tree)
    with pytest.raises(FilterError, match="levels deep"):
        parse_filter(tree)


def test_condition_and_in_list_limits_are_exact() -> None:
    parse_filter({"$or": [{"a": i} for i in range(MAX_CONDITIONS)]})
    with pytest.raises(FilterError, match=str(MAX_CONDITIONS)):
        parse_filter({"$or": [{"a": i} for i in range(MAX_CONDITIONS + 1)]})
    with pytest.raises(FilterError, match=str(MAX_CONDITIONS)):
        parse_filter(And(tuple(Comparison("a", "eq", i) for i in range(MAX_CONDITIONS + 1))))
    parse_filter({"a": {"$in": list(range(MAX_IN_VALUES))}})
    with pytest.raises(FilterError, match=str(MAX_IN_VALUES)):
        parse_filter({"a": {"$nin": list(range(MAX_IN_VALUES + 1))}})


@pytest.mark.parametrize(
    "bad",
    [{"a": "x\x00"}, {"a": {"$in": ["ok", "\ud800"]}}, {"a\udfff": 1},
     {"a": {"$contains": "\x00"}}, {"a": {"$substring": "\ud800"}}],
)
def test_nul_and_lone_surrogates_are_filter_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        parse_filter(bad)


def test_numbers_are_canonical_and_64_bit() -> None:
    # A float from 2**53 on is a whole number: it becomes the int of its exact value.
    assert parse_filter({"v": 9.123456789012345e18}) == Comparison("v", "eq", 9123456789012344832)
    assert matches({"v": 9123456789012344832}, {"v": 9.123456789012345e18})
    assert not matches({"v": 9123456789012345000}, {"v": 9.123456789012345e18})
    assert matches({"v": {"$gt": 9123456789012344831}}, {"v": 9.123456789012345e18})
    assert parse_filter({"v": 1e300}) == Comparison("v", "eq", 1e300)  # beyond 64 bits: a float
    assert parse_filter({"v": -0.0}) == Comparison("v", "eq", -0.0)
    for bad in (2**63, -(2**63), 10**30):
        with pytest.raises(FilterError, match="64-bit"):
            parse_filter({"v": {"$gte": bad}})


@pytest.mark.parametrize(
    "metadata, spec, expected",
    [
        ({"a": "100% sure"}, {"a": {"$substring": "%"}}, True),
        ({"a": "100 sure"}, {"a": {"$substring": "%"}}, False),  # no wildcards
        ({"a": "axb"}, {"a": {"$substring": "a_b"}}, False),
        ({"a": "a*b"}, {"a": {"$substring": "*"}}, True),
        ({"a": "abc"}, {"a": {"$substring": ""}}, True),
        ({"a": "Mixed"}, {"a": {"$substring": "mixed"}}, False),
        ({"a": "Mixed"}, {"a": {"$isubstring": "MIXED"}}, True),
        ({"a": "ÄB"}, {"a": {"$isubstring": "äb"}}, False),  # ASCII case only
        ({"a": "ÄB"}, {"a": {"$isubstring": "Äb"}}, True),
        ({"a": ["abc"]}, {"a": {"$substring": "b"}}, False),  # lists: use $contains
        ({"a": 123}, {"a": {"$substring": "2"}}, False),
        ({}, {"$not": {"a": {"$substring": "x"}}}, True),
    ],
)
def test_substring_semantics(
    metadata: dict[str, Any], spec: dict[str, Any], expected: bool
) -> None:
    assert matches(spec, metadata) is expected


def test_simplify_keeps_meaning_and_alternates() -> None:
    recs = filter_records()
    for _, spec in FILTER_CASES:
        node = parse_filter(spec)
        flat = simplify(node)  # type: ignore[arg-type]

        def alternates(n: Any, parent: type | None = None) -> bool:
            if isinstance(n, Not):
                return isinstance(n.child, Comparison)
            if isinstance(n, (And, Or)):
                return type(n) is not parent and all(alternates(c, type(n)) for c in n.children)
            return True

        assert alternates(flat)
        for r in recs:
            assert evaluate(flat, r.metadata) == evaluate(node, r.metadata)
