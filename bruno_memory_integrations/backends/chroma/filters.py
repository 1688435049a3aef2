"""Metadata filters for Chroma: how metadata is made filterable, and filter -> ``where``.

Pure functions, no I/O.

Why generated filter fields (see docs/backends/chroma.md). Chroma's ``where``
cannot express the filter language on the stored metadata directly: it has no
``$exists`` and no ``$not``, refuses nested objects, empty lists and lists mixing
kinds and keys starting with ``#``, and its ``$contains``
tells an ``int`` element from a ``float`` one. So every record carries, next to
its metadata kept exactly as JSON text (``m``), fields named by a kind and a
hash of the key (``[a-z0-9]`` only: no key can reach another field):

===========  ==========================================================
``k<h>``     the kind of the value (``s n b l o``) when present and not null
``s<h>``     the value when it is a string
``ni<h>``    the value when it is a whole number within 64 bits (never a bool)
``nf<h>``    the value when it is another number (a fraction, or beyond 64 bits)
``b<h>``     the value when it is a boolean
``ls<h>``    the distinct string elements when the value is a list
``li<h>``    its distinct whole-number elements; ``lf<h>`` its other numbers
``lb<h>``    its distinct boolean elements
===========  ==========================================================

Each field holds one kind only, and Chroma's own rules then coincide with ours:
``$ne`` and ``$nin`` match records that lack the field (measured), and
``$contains`` / ``$not_contains`` are element tests. Integers and floats live
apart because Chroma compares an integer field with a float operand by first
truncating the operand (``4 == 4.5`` holds there); each side gets an operand of
its own type with the same meaning (``ni > 4.5`` becomes ``ni > 4``).
``Not`` is pushed down to the comparisons (De Morgan) and becomes ``$ne``,
``$nin``, ``$not_contains``, or "another kind" through ``k<h>``.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import FilterError, InvalidMetadataError
from ...filters import Comparison, FilterNode, Not, simplify, value_kind
from ..encoding import key_hash

__all__ = ["MAX_LIST_ELEMENTS", "filter_fields", "key_hash", "to_chroma_where"]

#: Distinct elements of one kind a metadata list may have: Chroma fails (and stays
#: failed for the collection) on much longer lists (measured: 5 000 work, 10 000 do not).
MAX_LIST_ELEMENTS = 4096
_KINDS = ["s", "n", "b", "l", "o"]
_Where = dict[str, Any] | bool  # a where clause, or True (everything) / False (nothing)


def _is_number(value: Any) -> bool:
    return value_kind(value) == "number"


def filter_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The generated filter fields of one record's metadata.

    Raises:
        InvalidMetadataError: a list with more than :data:`MAX_LIST_ELEMENTS`
            distinct elements of one kind.
    """
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue  # null is missing
        h = key_hash(key)
        kind = value_kind(value)
        if kind == "string":
            out["s" + h], out["k" + h] = value, "s"
        elif kind == "number":
            whole = _as_int(value)
            if whole is not None:
                out["ni" + h] = whole
            else:
                out["nf" + h] = value
            out["k" + h] = "n"
        elif kind == "bool":
            out["b" + h], out["k" + h] = value, "b"
        elif isinstance(value, list):
            out["k" + h] = "l"
            # Nested lists and objects in a list never equal a scalar: left out.
            parts: dict[str, list[Any]] = {
                "ls": [v for v in value if isinstance(v, str)],
                "li": [_as_int(v) for v in value if _is_number(v) and _as_int(v) is not None],
                "lf": [v for v in value if _is_number(v) and _as_int(v) is None],
                "lb": [v for v in value if isinstance(v, bool)],
            }
            for letter, items in parts.items():
                distinct = list(dict.fromkeys(items))
                if len(distinct) > MAX_LIST_ELEMENTS:
                    raise InvalidMetadataError(
                        f"metadata {key!r} is a list of {len(distinct)} distinct elements of "
                        f"one kind; the chroma backend keeps at most {MAX_LIST_ELEMENTS} "
                        f"(Chroma fails on longer lists): shorten it or store it as a string"
                    )
                if distinct:
                    out[letter + h] = distinct
        else:  # an object: it only exists
            out["k" + h] = "o"
    return out


# ------------------------------------------------------------------ translation
def _clause(path: str, op: str, value: Any) -> dict[str, Any]:
    return {path: {op: value}}


def _scalar_path(key: str, value: Any) -> str:
    return {"string": "s", "bool": "b"}[value_kind(value)] + key_hash(key)


_I64 = 2**63
_EXACT = 2**53


def _as_int(value: Any) -> int | None:
    """A number as an integer when it is a whole number within 64 bits, else None.

    Whole floats are kept with the integers (``3.0`` in ``ni`` as ``3``), so every
    value, and every ``$in`` operand, is on exactly one side.
    """
    if isinstance(value, int):
        return value
    if value.is_integer() and -_I64 <= value < _I64:
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    """A number as a float-side operand: only numbers that are not such integers."""
    return None if _as_int(value) is not None else float(value)


def _float_bound(value: Any) -> float:
    """A float operand ordering the stored floats (``nf``) as ``value`` does.

    ``nf`` holds fractional floats (all below 2**53 in magnitude) and floats beyond
    64 bits; none lies in [2**53, 2**63), so an integer there orders them like 2**53.
    """
    if isinstance(value, int) and abs(value) >= _EXACT:
        return float(_EXACT if value > 0 else -_EXACT)
    return float(value)


def _int_range(h: str, op: str, value: Any) -> _Where:
    """``ni <op> value`` for any number ``value``, with an integer operand."""
    if isinstance(value, int):
        return _clause("ni" + h, f"${op}", value)
    every = _clause("ni" + h, "$gte", -_I64)  # every record with an integer there
    if value >= _I64:  # above every integer
        return every if op in ("lt", "lte") else False
    if value < -_I64:
        return every if op in ("gt", "gte") else False
    if value.is_integer():
        return _clause("ni" + h, f"${op}", int(value))
    low = math.floor(value)  # x > 4.5 <=> x > 4;  x < 4.5 <=> x <= 4
    if op in ("gt", "gte"):
        return _clause("ni" + h, "$gt", low)
    return _clause("ni" + h, "$lte", low)


def _number_range(key: str, op: str, value: Any) -> _Where:
    h = key_hash(key)
    return _or([_int_range(h, op, value), _clause("nf" + h, f"${op}", _float_bound(value))])


def _number_in(key: str, values: list[Any], negate: bool) -> _Where:
    h = key_hash(key)
    ints = list(dict.fromkeys(i for i in map(_as_int, values) if i is not None))
    floats = list(dict.fromkeys(f for f in map(_as_float, values) if f is not None))
    op = "$nin" if negate else "$in"
    parts: list[_Where] = []
    if ints:
        parts.append(_clause("ni" + h, op, ints))
    if floats:
        parts.append(_clause("nf" + h, op, floats))
    return _and(parts) if negate else _or(parts)


def _contains_parts(key: str, value: Any) -> list[tuple[str, Any]]:
    """(list field, operand) pairs whose element test is ``value`` in the list."""
    h = key_hash(key)
    kind = value_kind(value)
    if kind == "string":
        return [("ls" + h, value)]
    if kind == "bool":
        return [("lb" + h, value)]
    whole = _as_int(value)
    return [("li" + h, whole)] if whole is not None else [("lf" + h, float(value))]


def _positive(c: Comparison) -> _Where:
    op, key, value = c.op, c.field, c.value
    if op == "exists":
        return _clause("k" + key_hash(key), "$in", _KINDS)
    if op in ("eq", "in"):
        values = list(dict.fromkeys(value if op == "in" else (value,)))
        if value_kind(values[0]) == "number":
            return _number_in(key, values, negate=False)
        if len(values) == 1:
            return _clause(_scalar_path(key, values[0]), "$eq", values[0])
        return _clause(_scalar_path(key, values[0]), "$in", values)
    if op in ("gt", "gte", "lt", "lte"):
        return _number_range(key, op, value)
    if op == "contains":
        return _or([_clause(p, "$contains", v) for p, v in _contains_parts(key, value)])
    if op in ("substring", "isubstring"):
        raise FilterError(
            f"the chroma backend cannot express ${op} (on {key!r}): Chroma has no substring "
            f"test on metadata; filter with $eq / $in, or use a store that supports "
            f"substring filters (sqlite, postgresql, memory)"
        )
    raise FilterError(f"the chroma backend cannot express the comparison {op!r}")


_FLIP = {"gt": "$lte", "gte": "$lt", "lt": "$gte", "lte": "$gt"}


def _negative(c: Comparison) -> _Where:
    op, key, value = c.op, c.field, c.value
    h = key_hash(key)
    if op == "exists":
        return _clause("k" + h, "$nin", _KINDS)
    if op in ("eq", "in"):
        values = list(dict.fromkeys(value if op == "in" else (value,)))
        if value_kind(values[0]) == "number":
            return _number_in(key, values, negate=True)
        if len(values) == 1:
            return _clause(_scalar_path(key, values[0]), "$ne", values[0])
        return _clause(_scalar_path(key, values[0]), "$nin", values)
    if op in _FLIP:
        # Not a number at all (missing, or another kind), or on the other side.
        return _or(
            [_number_range(key, _FLIP[op][1:], value), _clause("k" + h, "$ne", "n")]
        )
    if op == "contains":
        return _and([_clause(p, "$not_contains", v) for p, v in _contains_parts(key, value)])
    return _positive(c)  # raises for what cannot be expressed


#: Most children of one ``$and`` / ``$or``: Chroma's engine chains a list's
#: children one inside the other, and SQLite refuses expressions over 1 000 deep,
#: so longer lists become a balanced tree of short ones.
FAN_OUT = 8


def _height(where: dict[str, Any]) -> int:
    (op, value), = where.items()
    if op in ("$and", "$or"):
        return 1 + max(_height(c) for c in value)
    return 0


def _join(op: str, rest: list[dict[str, Any]]) -> dict[str, Any]:
    """``{op: rest}``, with at most FAN_OUT children per list.

    The shallowest children are grouped first, so the deepest stays where it was:
    Chroma also refuses ``where`` clauses nested 64 deep.
    """
    if len(rest) == 1:
        return rest[0]
    items = sorted(((_height(c), i, c) for i, c in enumerate(rest)), key=lambda t: t[:2])
    seq = len(items)
    while len(items) > FAN_OUT:
        group, items = items[:FAN_OUT], items[FAN_OUT:]
        node = {op: [c for _, _, c in group]}
        items.append((max(h for h, _, _ in group) + 1, seq, node))
        seq += 1
        items.sort(key=lambda t: t[:2])
    return {op: [c for _, _, c in items]}


def _and(parts: list[_Where]) -> _Where:
    if any(p is False for p in parts):
        return False
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return True
    return _join("$and", rest)


def _or(parts: list[_Where]) -> _Where:
    if any(p is True for p in parts):
        return True
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return False
    return _join("$or", rest)


def _walk(node: FilterNode) -> _Where:
    if isinstance(node, Comparison):
        return _positive(node)
    if isinstance(node, Not):
        assert isinstance(node.child, Comparison)  # simplify() pushed every Not down
        return _negative(node.child)
    parts = [_walk(c) for c in node.children]
    return _and(parts) if type(node).__name__ == "And" else _or(parts)


def to_chroma_where(node: FilterNode | None) -> dict[str, Any] | bool:
    """Translate a parsed filter into a Chroma ``where`` over the generated fields.

    Returns ``True`` when the filter matches every record (``None``) and ``False``
    when it can match none; backends skip the request then.

    Raises:
        FilterError: ``$substring`` / ``$isubstring``, which Chroma cannot express.
    """
    if node is None:
        return True
    return _walk(simplify(node))
