"""The filter language: parsing, normal form and the reference evaluator (no store)."""

from __future__ import annotations

import itertools

import pytest

from bruno_memory_integrations.errors import FilterError
from bruno_memory_integrations.filters import (
    And,
    Comparison,
    Not,
    Or,
    evaluate,
    fields_of,
    fold,
    matches,
    parse_filter,
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
