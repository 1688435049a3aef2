"""Metadata filters for Chroma: how metadata is made filterable, and filter -> ``where``.

Pure functions, no I/O.

Why generated filter fields (see docs/backends/chroma.md). Chroma's ``where``
cannot express the filter language on the stored metadata directly: it has no
``$exists`` and no ``$not``, refuses nested objects, empty lists and lists mixing
kinds, reserves keys starting with ``#`` or ``chroma:``, and its ``$contains``
tells an ``int`` element from a ``float`` one. So every record carries, next to
its metadata kept exactly as JSON text (``m``), fields named by a kind and a
hash of the key (``[a-z0-9]`` only: no key can reach another field):

===========  ==========================================================
``k<h>``     the kind of the value (``s n b l o``) when present and not null
``s<h>``     the value when it is a string
``n<h>``     the value when it is a number (int or float, never a bool)
``b<h>``     the value when it is a boolean
``ls<h>``    the distinct string elements when the value is a list
``li<h>``    its distinct integer elements; ``lf<h>`` its float ones
``lb<h>``    its distinct boolean elements
===========  ==========================================================

Each field holds one kind only, and Chroma's own rules then coincide with ours:
``$ne`` and ``$nin`` match records that lack the field (measured), numbers compare
by value across int and float, ``$contains`` / ``$not_contains`` are element tests.
``Not`` is pushed down to the comparisons (De Morgan) and becomes ``$ne``,
``$nin``, ``$not_contains``, or "another kind" through ``k<h>``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ...errors import FilterError, InvalidMetadataError
from ...filters import Comparison, FilterNode, Not, simplify, value_kind

__all__ = ["MAX_LIST_ELEMENTS", "filter_fields", "key_hash", "to_chroma_where"]

#: Distinct elements of one kind a metadata list may have: Chroma fails (and stays
#: failed for the collection) on much longer lists (measured: 5 000 work, 10 000 do not).
MAX_LIST_ELEMENTS = 4096
_KINDS = ["s", "n", "b", "l", "o"]
_Where = dict[str, Any] | bool  # a where clause, or True (everything) / False (nothing)


def key_hash(key: str) -> str:
    """The hash naming a metadata key's filter fields (20 hex digits)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()


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
            out["n" + h], out["k" + h] = value, "n"
        elif kind == "bool":
            out["b" + h], out["k" + h] = value, "b"
        elif isinstance(value, list):
            out["k" + h] = "l"
            # Nested lists and objects in a list never equal a scalar: left out.
            parts = {
                "ls": [v for v in value if isinstance(v, str)],
                "li": [v for v in value if _is_number(v) and isinstance(v, int)],
                "lf": [v for v in value if isinstance(v, float)],
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
    return {"string": "s", "number": "n", "bool": "b"}[value_kind(value)] + key_hash(key)


def _contains_parts(key: str, value: Any) -> list[tuple[str, Any]]:
    """(list field, operand) pairs whose element test is ``value`` in the list."""
    h = key_hash(key)
    kind = value_kind(value)
    if kind == "string":
        return [("ls" + h, value)]
    if kind == "bool":
        return [("lb" + h, value)]
    parts: list[tuple[str, Any]] = []
    if isinstance(value, int) or float(value).is_integer():
        if abs(value) <= 2**63 - 1:
            parts.append(("li" + h, int(value)))
    if abs(value) < 2**53 or isinstance(value, float):
        parts.append(("lf" + h, float(value)))
    return parts


def _positive(c: Comparison) -> _Where:
    op, key, value = c.op, c.field, c.value
    if op == "exists":
        return _clause("k" + key_hash(key), "$in", _KINDS)
    if op == "eq":
        return _clause(_scalar_path(key, value), "$eq", value)
    if op == "in":
        values = list(dict.fromkeys(value))
        return _clause(_scalar_path(key, values[0]), "$in", values)
    if op in ("gt", "gte", "lt", "lte"):
        return _clause("n" + key_hash(key), f"${op}", value)
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
    if op == "eq":
        return _clause(_scalar_path(key, value), "$ne", value)
    if op == "in":
        values = list(dict.fromkeys(value))
        return _clause(_scalar_path(key, values[0]), "$nin", values)
    if op in _FLIP:
        # Not a number at all (missing, or another kind), or on the other side.
        return _or([_clause("n" + h, _FLIP[op], value), _clause("k" + h, "$ne", "n")])
    if op == "contains":
        return _and([_clause(p, "$not_contains", v) for p, v in _contains_parts(key, value)])
    return _positive(c)  # raises for what cannot be expressed


def _and(parts: list[_Where]) -> _Where:
    if any(p is False for p in parts):
        return False
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return True
    return rest[0] if len(rest) == 1 else {"$and": rest}


def _or(parts: list[_Where]) -> _Where:
    if any(p is True for p in parts):
        return True
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return False
    return rest[0] if len(rest) == 1 else {"$or": rest}


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
