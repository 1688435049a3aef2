"""The portable metadata-filter language: parser, normal form and reference evaluator.

docs/filters.md is the specification; this module is its executable form.
Every backend's translator takes the tree :func:`parse_filter` returns (never the
raw dict), so the grammar is checked in one place and every translator sees the
same small set of nodes:

* :class:`Comparison` with ``op`` one of ``eq gt gte lt lte in exists contains``;
* :class:`And`, :class:`Or`, :class:`Not`.

``$ne``, ``$nin``, ``$exists: false`` and ``$eq: null`` are rewritten into
``Not(...)`` of a primitive, so "not equal" always includes records where the
field is missing, in every backend. :func:`evaluate` is the reference that the
conformance suite compares every backend with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import FilterError

__all__ = [
    "And",
    "Comparison",
    "FilterNode",
    "Not",
    "Or",
    "evaluate",
    "field_value",
    "fields_of",
    "fold",
    "matches",
    "parse_filter",
    "to_negation_normal_form",
    "value_kind",
]

Scalar = str | int | float | bool
T = TypeVar("T")

COMPARISON_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains")
LOGICAL_OPS = ("$and", "$or", "$not")
RANGE_OPS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``op`` is one of ``eq gt gte lt lte in exists contains``.

    For ``in`` the value is a tuple of scalars of one kind; for ``exists`` it is
    always ``True`` (``exists: false`` becomes ``Not(exists)``).
    """

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    children: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Not:
    child: FilterNode


FilterNode = Comparison | And | Or | Not


def value_kind(value: Any) -> str:
    """The filter kind of a value: "bool", "number", "string" (or its type name)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _scalar(value: Any, op: str, field: str) -> Scalar:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"{op} on {field!r}: {value!r} is not a finite number")
        return value
    raise FilterError(
        f"{op} on {field!r} takes a string, number or boolean, got {type(value).__name__} "
        f"{value!r}"
    )


def _check_field(field: Any) -> str:
    if not isinstance(field, str) or not field:
        raise FilterError(f"a filter field must be a non-empty string, got {field!r}")
    if field.startswith("$"):
        raise FilterError(
            f"unknown filter operator {field!r}; logical operators are "
            f"{', '.join(LOGICAL_OPS)} and comparisons are {', '.join(COMPARISON_OPS)}"
        )
    if "\x00" in field:
        raise FilterError(f"a filter field cannot contain a NUL character: {field!r}")
    return field


def _comparison(field: str, op: str, value: Any) -> FilterNode:
    if op not in COMPARISON_OPS:
        raise FilterError(
            f"unknown filter operator {op!r} on field {field!r}; supported: "
            f"{', '.join(COMPARISON_OPS)}"
        )
    if op in ("$eq", "$ne"):
        if value is None:
            node: FilterNode = Not(Comparison(field, "exists", True))
            return node if op == "$eq" else Not(node)
        node = Comparison(field, "eq", _scalar(value, op, field))
        return node if op == "$eq" else Not(node)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FilterError(
                f"{op} on {field!r} takes a number, got {value!r}; range comparisons are "
                f"numeric in every backend (store dates as epoch seconds)"
            )
        return Comparison(field, op[1:], _scalar(value, op, field))
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{op} on {field!r} takes a non-empty list, got {value!r}")
        items = tuple(_scalar(v, op, field) for v in value)
        kinds = {value_kind(v) for v in items}
        if len(kinds) > 1:
            raise FilterError(
                f"{op} on {field!r} mixes {sorted(kinds)}; use values of one kind "
                f"(or combine with $or)"
            )
        node = Comparison(field, "in", items)
        return node if op == "$in" else Not(node)
    if op == "$exists":
        if not isinstance(value, bool):
            raise FilterError(f"$exists on {field!r} takes true or false, got {value!r}")
        node = Comparison(field, "exists", True)
        return node if value else Not(node)
    # $contains
    return Comparison(field, "contains", _scalar(value, op, field))


def _parse(spec: Any, where: str) -> FilterNode:
    if not isinstance(spec, Mapping):
        raise FilterError(f"{where}: a filter must be a dict, got {type(spec).__name__} {spec!r}")
    if not spec:
        raise FilterError(f"{where}: an empty filter inside $and/$or/$not means nothing")
    parts: list[FilterNode] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters, got {value!r}")
            kids = tuple(_parse(v, key) for v in value)
            if len(kids) == 1:
                parts.append(kids[0])
            else:
                parts.append(And(kids) if key == "$and" else Or(kids))
        elif key == "$not":
            parts.append(Not(_parse(value, "$not")))
        else:
            field = _check_field(key)
            if isinstance(value, Mapping) and value and all(
                isinstance(k, str) and k.startswith("$") for k in value
            ):
                for op, operand in value.items():
                    parts.append(_comparison(field, op, operand))
            elif isinstance(value, Mapping):
                raise FilterError(
                    f"field {field!r}: expected a value or a dict of operators like "
                    f"{{'$eq': ...}}, got {value!r}"
                )
            else:
                parts.append(_comparison(field, "$eq", value))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def parse_filter(spec: Mapping[str, Any] | FilterNode | None) -> FilterNode | None:
    """Check a filter dict and return its tree; ``None`` or ``{}`` means "everything".

    Raises:
        FilterError: the filter is malformed or uses an unknown operator.
    """
    if spec is None:
        return None
    if isinstance(spec, (Comparison, And, Or, Not)):
        return spec
    if isinstance(spec, Mapping) and not spec:
        return None
    return _parse(spec, "filter")


def to_negation_normal_form(node: FilterNode, negate: bool = False) -> FilterNode:
    """Push every ``Not`` down to a comparison (De Morgan), for stores without a general NOT.

    The result contains ``Not`` only directly around a :class:`Comparison`.
    """
    if isinstance(node, Not):
        return to_negation_normal_form(node.child, not negate)
    if isinstance(node, (And, Or)):
        kids = tuple(to_negation_normal_form(c, negate) for c in node.children)
        flip = isinstance(node, And) == negate  # And under negation becomes Or
        return Or(kids) if flip else And(kids)
    return Not(node) if negate else node


# ---------------------------------------------------------------- reference evaluator

_MISSING = object()


def field_value(metadata: Mapping[str, Any], field: str) -> Any:
    """The value a filter sees for ``field``: ``_MISSING`` when absent or null."""
    value = metadata.get(field, _MISSING)
    return _MISSING if value is None else value


def _equal(a: Any, b: Any) -> bool:
    ka, kb = value_kind(a), value_kind(b)
    return ka == kb and ka in ("bool", "number", "string") and a == b


def _compare(node: Comparison, value: Any) -> bool:
    op = node.op
    if op == "exists":
        return value is not _MISSING
    if value is _MISSING:
        return False
    if op == "eq":
        return _equal(value, node.value)
    if op == "in":
        return any(_equal(value, v) for v in node.value)
    if op == "contains":
        return isinstance(value, list) and any(_equal(v, node.value) for v in value)
    if value_kind(value) != "number":
        return False
    if op == "gt":
        return bool(value > node.value)
    if op == "gte":
        return bool(value >= node.value)
    if op == "lt":
        return bool(value < node.value)
    if op == "lte":
        return bool(value <= node.value)
    raise FilterError(f"unknown comparison {op!r}")  # pragma: no cover - parser prevents it


def evaluate(node: FilterNode | None, metadata: Mapping[str, Any]) -> bool:
    """Whether a record with ``metadata`` matches the parsed filter (the reference)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(c, metadata) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, metadata) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, metadata)
    return _compare(node, field_value(metadata, node.field))


def matches(spec: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    """Parse ``spec`` and evaluate it against ``metadata``."""
    return evaluate(parse_filter(spec), metadata)


def fields_of(node: FilterNode | None) -> set[str]:
    """Every metadata field a filter refers to."""
    if node is None:
        return set()
    if isinstance(node, Comparison):
        return {node.field}
    if isinstance(node, Not):
        return fields_of(node.child)
    out: set[str] = set()
    for c in node.children:
        out |= fields_of(c)
    return out


def fold(
    node: FilterNode,
    comparison: Callable[[Comparison], T],
    and_: Callable[[list[T]], T],
    or_: Callable[[list[T]], T],
    not_: Callable[[T], T],
) -> T:
    """Walk a parsed filter bottom-up: the skeleton of every backend's translator.

    A translator supplies what one comparison becomes (raising :class:`FilterError`
    for what its store cannot express) and how to join parts; the walk is shared.
    """
    if isinstance(node, Comparison):
        return comparison(node)
    if isinstance(node, Not):
        return not_(fold(node.child, comparison, and_, or_, not_))
    parts = [fold(c, comparison, and_, or_, not_) for c in node.children]
    return and_(parts) if isinstance(node, And) else or_(parts)
