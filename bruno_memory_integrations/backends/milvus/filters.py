"""Metadata filters for Milvus: generated filter fields, and filter -> boolean expression.

Pure functions, no I/O.

Milvus filters are expression strings. Two rules make them safe and exact:

* **No metadata key ever appears in an expression.** Every record carries a JSON
  field ``f`` written from its top-level metadata, whose keys are a kind letter
  and a hash of the metadata key (``[a-z0-9]`` only):

  =============  ==================================================
  ``f["e"]``     tokens of what is present: the key hash (``$exists``)
                 and the name of every field below that is set
  ``f["s<h>"]``  the value when it is a string (``a``+letter: as a one-element list)
  ``f["n<h>"]``  the value when it is a number (never a bool)
  ``f["b<h>"]``  the value when it is a boolean
  ``f["ls<h>"]`` the string elements when the value is a list (``$contains``)
  ``f["ln<h>"]`` the number elements, ``f["lb<h>"]`` the boolean elements
  ``f["w"]``     the record's words (keyword search)
  =============  ==================================================

  Each field holds one kind, so Milvus Lite treating ``true`` as ``1`` or a real
  server comparing an array with a scalar never comes into play.
* **Every value is a literal written here**: strings double-quoted with ``\\``,
  ``"``, newline and carriage return escaped (the escapes both engines read the
  same way; every other character stands for itself), numbers in Python's
  ``repr`` (ints exactly, floats round-trip), booleans ``true``/``false``.

The engines differ (docs/backends/milvus.md): Milvus Lite evaluates a comparison
on a missing JSON field to *null* and ``not null`` to null (SQL logic), and
refuses ``json["k"] in [...]``; the C++ server treats the comparison as false and
has ``in``. The translator pushes every ``not`` down to a comparison; with
``lite=True`` each negated comparison is guarded by ``json_contains(f["e"], field)``
(false, not null, when the field is missing), and ``$in`` becomes a balanced ``or``;
so ``not`` is the full complement on both.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from ...errors import FilterError
from ...filters import And, Comparison, FilterNode, Not, canonical_number, simplify, value_kind
from ..encoding import key_hash

__all__ = [
    "FILTER_FIELD",
    "filter_fields",
    "key_hash",
    "literal",
    "string_literal",
    "to_milvus_expr",
]

#: JSON field holding the generated filter fields.
FILTER_FIELD = "f"
#: Words of the record's text (keyword search), inside the filter field.
WORDS = "w"

_Part = str | bool  # an expression, or a constant: True (everything) / False (nothing)


def string_literal(text: str) -> str:
    """``text`` as a double-quoted expression literal that means exactly ``text``.

    Only the backslash, the double quote, newline and carriage return are escaped:
    the grammar of both engines takes every other character (any Unicode, control
    characters included) as itself. NUL and lone surrogates never get here
    (the parser and the validation refuse them).
    """
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        + '"'
    )


def literal(value: Any) -> str:
    """A string, number or boolean as an expression literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        value = number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if ("." in text or "e" in text or "n" in text) else text + ".0"
    if isinstance(value, str):
        return string_literal(value)
    raise FilterError(f"cannot write {value!r} into a Milvus expression")  # pragma: no cover


def number(value: float) -> int | float:
    """The one form of a number in filter fields and operands: a whole float that fits
    64 bits becomes the int of the same value, so the engines compare ints with ints."""
    value = canonical_number(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
        return int(value)
    return value


def _path(name: str) -> str:
    return f'{FILTER_FIELD}["{name}"]'


def filter_fields(metadata: dict[str, Any], words: Iterable[str] | None = None) -> dict[str, Any]:
    """The generated filter fields of one record (the JSON field ``f``)."""
    out: dict[str, Any] = {}
    present: list[str] = []
    for key, value in metadata.items():
        if value is None:
            continue  # null is missing
        h = key_hash(key)
        present.append(h)
        kind = value_kind(value)
        if kind in ("string", "number", "bool"):
            scalar = number(value) if kind == "number" else value
            out[kind[0] + h] = scalar
            # The value as a one-element list: Milvus Lite's $in (json_contains_any).
            out["a" + kind[0] + h] = [scalar]
        elif isinstance(value, list):
            # Nested lists and objects in a list never equal a scalar: left out.
            strings = [v for v in value if isinstance(v, str)]
            numbers = [number(v) for v in value if value_kind(v) == "number"]
            bools = [v for v in value if isinstance(v, bool)]
            if strings:
                out["ls" + h] = strings
            if numbers:
                out["ln" + h] = numbers
            if bools:
                out["lb" + h] = bools
        # Objects only exist (``e``); no comparison matches them.
    present += list(out)
    out["e"] = present
    if words is not None:
        out[WORDS] = sorted(set(words))
    return out


class _Translator:
    def __init__(self, lite: bool) -> None:
        self.lite = lite
        #: Whether the comparison being written is negated (only those need a guard).
        self.negated = False

    def guarded(self, name: str, expr: str) -> str:
        """``expr`` on field ``name``, false (never null) where the field is missing."""
        if not self.lite or not self.negated:
            # Not negated, a null (Lite's missing field) excludes the record like false.
            return expr
        return f'(json_contains({_path("e")}, "{name}") and {expr})'

    def equal(self, letter: str, key: str, value: Any) -> str:
        name = value_kind(value)[0] + key_hash(key)
        if letter:  # an element of a list; a list literal, where Lite takes a negative number
            return f"json_contains_any({_path(letter + name)}, [{literal(value)}])"
        return self.guarded(name, f"{_path(name)} == {literal(value)}")

    def comparison(self, node: Comparison) -> _Part:
        op, key, value = node.op, node.field, node.value
        if op == "exists":
            return f'json_contains({_path("e")}, "{key_hash(key)}")'
        if op == "eq":
            return self.equal("", key, value)
        if op == "in":
            values = list(dict.fromkeys(value))
            if len(values) == 1:
                return self.equal("", key, values[0])
            # A server's ``in`` takes one literal type (ints and floats mixed trip an
            # assertion in Milvus 2.3.5); Milvus Lite has no ``in`` on JSON at all.
            types = {type(number(v)) if value_kind(v) == "number" else type(v) for v in values}
            if not self.lite and len(types) == 1:
                name = value_kind(values[0])[0] + key_hash(key)
                items = ", ".join(literal(v) for v in values)
                return f"{_path(name)} in [{items}]"
            if self.lite:
                # Milvus Lite has no ``in`` on JSON; a balanced ``or`` of 10 000 values
                # costs it a minute, one json_contains_any on the value's list a second.
                name = "a" + value_kind(values[0])[0] + key_hash(key)
                items = ", ".join(literal(v) for v in values)
                return f"json_contains_any({_path(name)}, [{items}])"
            return _balanced_or([self.equal("", key, v) for v in values])
        if op == "contains":
            return self.equal("l", key, value)
        if op in ("gt", "gte", "lt", "lte"):
            name = "n" + key_hash(key)
            sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return self.guarded(name, f"{_path(name)} {sign} {literal(value)}")
        if op in ("substring", "isubstring"):
            raise FilterError(
                f"the milvus backend cannot express ${op} (on {key!r}) exactly: Milvus' "
                f"'like' matches prefixes only on a server and treats '%' and '_' as "
                f"wildcards; filter with $eq / $in, or use a store that supports substring "
                f"filters (sqlite, postgresql, memory)"
            )
        raise FilterError(f"the milvus backend cannot express the comparison {op!r}")


_Node = tuple[str, int]  # an expression and how deep its binary nodes nest
_Tree = _Node | bool


def _balanced(parts: list[str], op: str) -> str:
    """``a op b op ...`` as a balanced tree of parentheses (for leaves of one depth)."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return f"({_balanced(parts[:mid], op)} {op} {_balanced(parts[mid:], op)})"


def _balanced_or(parts: list[str]) -> str:
    return _balanced(parts, "or")


def _join(parts: list[_Node], op: str) -> _Node:
    """``a op b op ...`` with the least nesting: the two shallowest parts first.

    Milvus parses ``a and b and c`` into a chain of binary nodes as deep as it is
    long, and a server refuses a plan nested past the protobuf recursion limit
    ("unsupported expr proto node"). Joined shallowest first (like a Huffman code),
    1024 conditions nest 10 deep, and a deep part gains one level per join only.
    """
    heap = [(depth, i, expr) for i, (expr, depth) in enumerate(parts)]
    heapq.heapify(heap)
    n = len(heap)
    while len(heap) > 1:
        d1, _, e1 = heapq.heappop(heap)
        d2, _, e2 = heapq.heappop(heap)
        heapq.heappush(heap, (max(d1, d2) + 1, n, f"({e1} {op} {e2})"))
        n += 1
    depth, _, expr = heap[0]
    return expr, depth


def _and(parts: list[_Tree]) -> _Tree:
    if any(p is False for p in parts):
        return False
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return True
    return _join(rest, "and")


def _or(parts: list[_Tree]) -> _Tree:
    if any(p is True for p in parts):
        return True
    rest = [p for p in parts if not isinstance(p, bool)]
    if not rest:
        return False
    return _join(rest, "or")


def _not(part: _Tree) -> _Tree:
    if isinstance(part, bool):
        return not part
    return f"(not ({part[0]}))", part[1] + 1


def to_milvus_expr(node: FilterNode | None, lite: bool = False) -> str | bool:
    """Translate a parsed filter into a Milvus boolean expression over ``f``.

    Returns ``True`` when the filter matches every record (``None``) and ``False``
    when it can match none; backends skip the request then.

    Raises:
        FilterError: a ``$substring`` / ``$isubstring`` (not expressible exactly).
    """
    if node is None:
        return True
    t = _Translator(lite)
    # Negations pushed down to the comparisons and nested ANDs (ORs) merged: the
    # shallowest expression of the same meaning (both engines are two-valued here).
    tree = _translate(simplify(node), t)
    return tree if isinstance(tree, bool) else tree[0]


def _translate(node: FilterNode, t: _Translator) -> _Tree:
    """Translate a tree in negation normal form (``Not`` only around comparisons)."""
    if isinstance(node, Comparison):
        t.negated = False
        return _leaf(t.comparison(node))
    if isinstance(node, Not):
        if not isinstance(node.child, Comparison):  # pragma: no cover - simplify() prevents it
            return _not(_translate(node.child, t))
        t.negated = True
        return _not(_leaf(t.comparison(node.child)))
    parts = [_translate(c, t) for c in node.children]
    return _and(parts) if isinstance(node, And) else _or(parts)


def _leaf(part: _Part) -> _Tree:
    return part if isinstance(part, bool) else (part, 1)
