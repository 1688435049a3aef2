"""Metadata filters for Qdrant: how metadata is made filterable, and filter -> ``models.Filter``.

Pure functions, no I/O.

Why generated filter fields (see docs/backends/qdrant.md). Qdrant's conditions
cannot express the filter language directly on the stored metadata:

* a ``MatchValue`` or ``Range`` on an array field matches when *any* element
  matches, but ``{"tags": "news"}`` must not match ``["news"]``;
* ``MatchValue(3)`` does not match a stored ``3.0``, and a Python ``True`` is an
  int to the local-mode emulation;
* Qdrant reads ``a.b`` in a key as a path and has no escape for a ``"`` in a
  quoted key, while our keys are literal strings.

So every record also carries ``payload["f"]``, written from its top-level
metadata, with names made only of a kind letter and a hash of the key
(``[a-z0-9]``: no key can change a path or reach another field):

=============  ====================================================
``f.e``        hashes of the keys present and not null (``$exists``)
``f.s<h>``     the value when it is a string
``f.n<h>``     the value when it is a number (int or float, never a bool)
``f.b<h>``     the value when it is a boolean
``f.ls<h>``    the string elements when the value is a list (``$contains``)
``f.ln<h>``    the number elements of that list
``f.lb<h>``    the boolean elements of that list
=============  ====================================================

Each field holds one kind only, so Qdrant's own semantics coincide with ours:
a scalar field never holds an array, and "any element matches" on the ``l``
fields *is* ``$contains``. Numbers are compared with ``Range`` (Qdrant compares
ints and floats as doubles), so ``1`` equals ``1.0``; filter numbers beyond
±2**53 are refused because a double cannot hold every integer there.
``Not`` is ``must_not``, the full complement (records lacking the field match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from ...errors import FilterError
from ...filters import Comparison, FilterNode, fold, value_kind
from ..encoding import key_hash

__all__ = [
    "FILTER_ROOT",
    "MAX_EXACT_NUMBER",
    "Condition",
    "IndexPlan",
    "filter_fields",
    "index_plan",
    "key_hash",
    "to_qdrant_filter",
]

#: Payload key under which the generated filter fields live.
FILTER_ROOT = "f"
#: Largest magnitude a filter number may have (doubles hold every integer up to 2**53).
MAX_EXACT_NUMBER = 2**53

Condition = models.FieldCondition | models.Filter
_Part = models.Condition | bool  # a condition, or a constant: True (everything) / False (nothing)


def _path(kind: str, key: str | None = None) -> str:
    return f"{FILTER_ROOT}.{kind}" if key is None else f"{FILTER_ROOT}.{kind}{key_hash(key)}"


def _is_number(value: Any) -> bool:
    return value_kind(value) == "number"


def filter_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The generated filter fields of one record's metadata (``payload["f"]``)."""
    out: dict[str, Any] = {}
    present: list[str] = []
    for key, value in metadata.items():
        if value is None:
            continue  # null is missing
        h = key_hash(key)
        present.append(h)
        kind = value_kind(value)
        if kind == "string":
            out["s" + h] = value
        elif kind == "number":
            out["n" + h] = value
        elif kind == "bool":
            out["b" + h] = value
        elif isinstance(value, list):
            # Nested lists and objects in a list never equal a scalar: left out.
            strings = [v for v in value if isinstance(v, str)]
            numbers = [v for v in value if _is_number(v)]
            bools = [v for v in value if isinstance(v, bool)]
            if strings:
                out["ls" + h] = strings
            if numbers:
                out["ln" + h] = numbers
            if bools:
                out["lb" + h] = bools
        # Objects only exist (``f.e``); no comparison matches them.
    out["e"] = present
    return out


# ------------------------------------------------------------------ translation
def _number(value: Any) -> float | int:
    if abs(value) >= MAX_EXACT_NUMBER:
        raise FilterError(
            f"the qdrant backend cannot compare numbers beyond ±2**53 exactly (got {value!r}): "
            f"Qdrant compares numbers as doubles"
        )
    return value  # type: ignore[no-any-return]


def _field(path: str, **kwargs: Any) -> models.FieldCondition:
    return models.FieldCondition(key=path, **kwargs)


def _equal(path_letter: str, key: str, value: Any) -> Condition:
    """``key`` (or, with an ``l`` letter, an element of it) equals ``value``, kinds respected."""
    kind = value_kind(value)
    if kind == "number":
        v = _number(value)
        return _field(_path(path_letter + "n", key), range=models.Range(gte=v, lte=v))
    if kind == "bool":
        return _field(_path(path_letter + "b", key), match=models.MatchValue(value=value))
    return _field(_path(path_letter + "s", key), match=models.MatchValue(value=value))


def _comparison(node: Comparison) -> _Part:
    op, key, value = node.op, node.field, node.value
    if op == "exists":
        return _field(_path("e"), match=models.MatchValue(value=key_hash(key)))
    if op == "eq":
        return _equal("", key, value)
    if op == "in":
        values = list(dict.fromkeys(value))
        if value_kind(values[0]) == "string":
            if len(values) == 1:
                return _equal("", key, values[0])
            return _field(_path("s", key), match=models.MatchAny(any=values))
        parts: list[models.Condition] = [_equal("", key, v) for v in values]
        return parts[0] if len(parts) == 1 else models.Filter(should=parts)
    if op == "contains":
        return _equal("l", key, value)
    if op in ("gt", "gte", "lt", "lte"):
        return _field(_path("n", key), range=models.Range(**{op: _number(value)}))
    if op in ("substring", "isubstring"):
        raise FilterError(
            f"the qdrant backend cannot express ${op} (on {key!r}) exactly: Qdrant's text "
            f"match is by token on a server and by substring in local mode; filter with "
            f"$eq / $in, or use a store that supports substring filters (sqlite, postgresql, "
            f"memory)"
        )
    raise FilterError(f"the qdrant backend cannot express the comparison {op!r}")


def _and(parts: list[_Part]) -> _Part:
    if any(p is False for p in parts):
        return False
    rest: list[models.Condition] = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return True
    return rest[0] if len(rest) == 1 else models.Filter(must=rest)


def _or(parts: list[_Part]) -> _Part:
    if any(p is True for p in parts):
        return True
    rest: list[models.Condition] = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return False
    return rest[0] if len(rest) == 1 else models.Filter(should=rest)


def _not(part: _Part) -> _Part:
    if isinstance(part, bool):
        return not part
    return models.Filter(must_not=[part])


def to_qdrant_filter(node: FilterNode | None) -> models.Filter | bool:
    """Translate a parsed filter into a Qdrant ``Filter`` over the generated fields.

    Returns ``True`` when the filter matches every record (``None``) and ``False``
    when it can match none; backends skip the request then.

    Raises:
        FilterError: the filter compares a number Qdrant cannot compare exactly.
    """
    if node is None:
        return True
    part = fold(node, _comparison, _and, _or, _not)
    if isinstance(part, bool):
        return part
    if isinstance(part, models.Filter):
        return part
    return models.Filter(must=[part])


# ------------------------------------------------------------------ payload indexes
@dataclass(frozen=True)
class IndexPlan:
    """The payload indexes a filter would use on a server: ``{field path: schema}``."""

    fields: dict[str, models.PayloadSchemaType]


_SCHEMA_OF_KIND = {
    "s": models.PayloadSchemaType.KEYWORD,
    "n": models.PayloadSchemaType.FLOAT,  # a float index holds ints too (as doubles)
    "b": models.PayloadSchemaType.BOOL,
}


def index_plan(node: FilterNode | None) -> IndexPlan:
    """Which generated fields a filter reads, with the index type that serves it."""
    fields: dict[str, models.PayloadSchemaType] = {}

    def visit(c: Comparison) -> None:
        if c.op == "exists":
            fields[_path("e")] = models.PayloadSchemaType.KEYWORD
            return
        values = c.value if c.op == "in" else (c.value,)
        letter = value_kind(values[0])[0]  # "s", "n" or "b"
        prefix = "l" if c.op == "contains" else ""
        if c.op in ("gt", "gte", "lt", "lte"):
            letter = "n"
        fields[_path(prefix + letter, c.field)] = _SCHEMA_OF_KIND[letter]

    def walk(n: FilterNode) -> None:
        if isinstance(n, Comparison):
            visit(n)
        elif hasattr(n, "child"):
            walk(n.child)
        else:
            for ch in n.children:
                walk(ch)

    if node is not None:
        walk(node)
    return IndexPlan(fields)
