"""The portable metadata-filter language: parser, normal form and reference evaluator.

docs/filters.md is the specification; this module is its executable form.
Every backend's translator takes the tree :func:`parse_filter` returns (never the
raw dict), so the grammar is checked in one place and every translator sees the
same small set of nodes:

* :class:`Comparison` with ``op`` one of
  ``eq gt gte lt lte in exists contains substring isubstring``;
* :class:`And`, :class:`Or`, :class:`Not`.

The parser also enforces the language's limits (:data:`MAX_DEPTH`,
:data:`MAX_CONDITIONS`, :data:`MAX_IN_VALUES`, the 64-bit range of integers, no NUL
or lone surrogate in strings) and puts numbers in one canonical form (a float of
magnitude 2**53 or more, which is always a whole number, becomes the int of the
same value), so every translator can compare numbers exactly.

``$ne``, ``$nin``, ``$exists: false`` and ``$eq: null`` are rewritten into
``Not(...)`` of a primitive, so "not equal" always includes records where the
field is missing, in every backend. :func:`evaluate` is the reference that the
conformance suite compares every backend with.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import FilterError

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_INTEGER",
    "MAX_IN_VALUES",
    "MAX_TREE_DEPTH",
    "And",
    "Comparison",
    "FilterNode",
    "Not",
    "Or",
    "ascii_lower",
    "canonical_number",
    "check_filter_string",
    "evaluate",
    "field_value",
    "fields_of",
    "fold",
    "matches",
    "parse_filter",
    "simplify",
    "to_negation_normal_form",
    "value_kind",
]

Scalar = str | int | float | bool
T = TypeVar("T")

COMPARISON_OPS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains",
    "$substring", "$isubstring",
)
LOGICAL_OPS = ("$and", "$or", "$not")
RANGE_OPS = ("gt", "gte", "lt", "lte")

#: Deepest nesting of ``$and`` / ``$or`` / ``$not`` in a filter dict (a filter
#: without them has depth 0). Like Elasticsearch's nested-bool limit, it keeps every
#: store's query parser (SQLite's and Redis' have fixed-size stacks) well inside
#: its bounds; real filters rarely nest more than a few levels.
MAX_DEPTH = 32
#: Most conditions (field operators; an ``$in`` list counts as one) in one filter,
#: the classic Lucene clause limit.
MAX_CONDITIONS = 1024
#: Most values in one ``$in`` / ``$nin`` list (Pinecone's limit too).
MAX_IN_VALUES = 10_000
#: Deepest parsed tree a valid dict can produce, counting the comparison: each
#: level may add an implicit AND of several conditions, and the innermost dict an
#: AND, a NOT (``$ne``) and the comparison. The bound for trees passed in.
MAX_TREE_DEPTH = 2 * MAX_DEPTH + 3
#: Integers in filters and metadata are 64-bit, like SQLite's and PostgreSQL's.
MAX_INTEGER = 2**63 - 1
#: From this magnitude on every float is a whole number (doubles have 53 bits).
_FLOAT_INTEGRAL = 2.0**53
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``op`` is one of
    ``eq gt gte lt lte in exists contains substring isubstring``.

    For ``in`` the value is a tuple of scalars of one kind; for ``exists`` it is
    always ``True`` (``exists: false`` becomes ``Not(exists)``); for ``isubstring``
    it is the operand with ASCII letters lower-cased (:func:`ascii_lower`).
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


def _show(value: Any) -> str:
    """A short repr for messages: a hostile filter may be huge or very deep."""
    return _REPR.repr(value)


def ascii_lower(text: str) -> str:
    """``text`` with the ASCII letters A-Z lower-cased and every other character kept.

    The case rule of ``$isubstring``: only ASCII folds the same way in every store
    (SQLite's ``lower()`` and GLOB know no other letters, PostgreSQL's depend on
    the database's locale).
    """
    return text.translate(_ASCII_LOWER)


def canonical_number(value: float) -> int | float:
    """The one form of a number every store compares exactly.

    A float of magnitude at least 2**53 (and below 2**63) is a whole number; it
    becomes the int of the same value, so a store that keeps numbers as decimal
    text (PostgreSQL's JSONB) holds its exact value, not the shortest decimal that
    rounds to it. Larger floats stay floats (no integer type holds them).
    """
    if type(value) is float and _FLOAT_INTEGRAL <= abs(value) < 2.0**63:
        return int(value)
    return value


def check_filter_string(value: str, what: str) -> str:
    """Refuse a NUL or a lone surrogate, which no store can hold or compare."""
    if "\x00" in value:
        raise FilterError(f"{what} contains a NUL character, which no store keeps: {_show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError(
            f"{what} is not valid Unicode (it has a lone surrogate): {_show(value)}"
        ) from None
    return value


def _scalar(value: Any, op: str, field: str) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_filter_string(value, f"the {op} value on {field!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"{op} on {field!r}: {_show(value)} is not a finite number")
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            raise FilterError(
                f"{op} on {field!r}: {_show(value)} is outside the 64-bit integer range that "
                f"metadata integers have; compare with a float or store the value as a string"
            )
        return canonical_number(value)
    raise FilterError(
        f"{op} on {field!r} takes a string, number or boolean, got {type(value).__name__} "
        f"{_show(value)}"
    )


def _check_field(field: Any) -> str:
    if not isinstance(field, str) or not field:
        raise FilterError(f"a filter field must be a non-empty string, got {field!r}")
    if field.startswith("$"):
        raise FilterError(
            f"unknown filter operator {field!r}; logical operators are "
            f"{', '.join(LOGICAL_OPS)} and comparisons are {', '.join(COMPARISON_OPS)}"
        )
    return check_filter_string(field, f"the filter field {field!r}")


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
                f"{op} on {field!r} takes a number, got {_show(value)}; range comparisons are "
                f"numeric in every backend (store dates as epoch seconds)"
            )
        return Comparison(field, op[1:], _scalar(value, op, field))
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{op} on {field!r} takes a non-empty list, got {_show(value)}")
        if len(value) > MAX_IN_VALUES:
            raise FilterError(
                f"{op} on {field!r} has {len(value)} values; at most {MAX_IN_VALUES} are "
                f"allowed: split the list over several filters or calls"
            )
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
            raise FilterError(f"$exists on {field!r} takes true or false, got {_show(value)}")
        node = Comparison(field, "exists", True)
        return node if value else Not(node)
    if op in ("$substring", "$isubstring"):
        if not isinstance(value, str):
            raise FilterError(f"{op} on {field!r} takes a string, got {_show(value)}")
        text = check_filter_string(value, f"the {op} value on {field!r}")
        if op == "$isubstring":
            return Comparison(field, "isubstring", ascii_lower(text))
        return Comparison(field, "substring", text)
    # $contains
    return Comparison(field, "contains", _scalar(value, op, field))


class _Budget:
    """Conditions left while parsing one filter."""

    def __init__(self) -> None:
        self.conditions = 0

    def take(self) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(
                f"a filter may hold at most {MAX_CONDITIONS} conditions; combine values "
                f"with $in, or split the work over several calls"
            )


def _parse(spec: Any, where: str, depth: int, budget: _Budget) -> FilterNode:
    if not isinstance(spec, Mapping):
        raise FilterError(
            f"{where}: a filter must be a dict, got {type(spec).__name__} {_show(spec)}"
        )
    if not spec:
        raise FilterError(f"{where}: an empty filter inside $and/$or/$not means nothing")
    parts: list[FilterNode] = []
    for key, value in spec.items():
        if key in LOGICAL_OPS and depth >= MAX_DEPTH:
            raise FilterError(
                f"a filter may nest $and / $or / $not at most {MAX_DEPTH} deep; "
                f"flatten it (an $and inside an $and is the same as one $and)"
            )
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters, got {_show(value)}")
            kids = tuple(_parse(v, key, depth + 1, budget) for v in value)
            if len(kids) == 1:
                parts.append(kids[0])
            else:
                parts.append(And(kids) if key == "$and" else Or(kids))
        elif key == "$not":
            parts.append(Not(_parse(value, "$not", depth + 1, budget)))
        else:
            field = _check_field(key)
            if isinstance(value, Mapping) and value and all(
                isinstance(k, str) and k.startswith("$") for k in value
            ):
                for op, operand in value.items():
                    budget.take()
                    parts.append(_comparison(field, op, operand))
            elif isinstance(value, Mapping):
                raise FilterError(
                    f"field {field!r}: expected a value or a dict of operators like "
                    f"{{'$eq': ...}}, got {_show(value)}"
                )
            else:
                budget.take()
                parts.append(_comparison(field, "$eq", value))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _check_tree(node: FilterNode) -> FilterNode:
    """Apply the limits to a tree built by hand (iteratively: it may be very deep)."""
    conditions = 0
    stack: list[tuple[Any, int]] = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise FilterError(f"a filter tree may be at most {MAX_TREE_DEPTH} levels deep")
        if isinstance(item, Comparison):
            conditions += 1
            if conditions > MAX_CONDITIONS:
                raise FilterError(f"a filter may hold at most {MAX_CONDITIONS} conditions")
        elif isinstance(item, Not):
            stack.append((item.child, depth + 1))
        elif isinstance(item, (And, Or)) and item.children:
            stack.extend((c, depth + 1) for c in item.children)
        else:
            raise FilterError(f"not a filter node: {item!r}")
    return node


def parse_filter(spec: Mapping[str, Any] | FilterNode | None) -> FilterNode | None:
    """Check a filter dict and return its tree; ``None`` or ``{}`` means "everything".

    A tree (from an earlier call) is checked against the limits and returned as is.

    Raises:
        FilterError: the filter is malformed, uses an unknown operator, or exceeds
            a limit (:data:`MAX_DEPTH`, :data:`MAX_CONDITIONS`, :data:`MAX_IN_VALUES`).
    """
    if spec is None:
        return None
    if isinstance(spec, (Comparison, And, Or, Not)):
        return _check_tree(spec)
    if isinstance(spec, Mapping) and not spec:
        return None
    return _parse(spec, "filter", 0, _Budget())


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


def simplify(node: FilterNode) -> FilterNode:
    """Negation normal form with nested ANDs (ORs) merged into their parent.

    The result alternates And and Or, with ``Not`` only around comparisons: the
    shallowest tree of the same meaning, for stores whose query parser has a
    small fixed stack.
    """
    nnf = to_negation_normal_form(node)

    def merge(n: FilterNode) -> FilterNode:
        if isinstance(n, (And, Or)):
            kids: list[FilterNode] = []
            for c in n.children:
                m = merge(c)
                if type(m) is type(n):
                    kids.extend(m.children)  # type: ignore[union-attr]
                else:
                    kids.append(m)
            return And(tuple(kids)) if isinstance(n, And) else Or(tuple(kids))
        return n

    return merge(nnf)


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
    if op == "substring":
        return isinstance(value, str) and node.value in value
    if op == "isubstring":
        return isinstance(value, str) and node.value in ascii_lower(value)
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
