"""Translate a parsed metadata filter into an SQLite ``WHERE`` fragment.

:func:`to_sqlite_where` turns the tree from
:func:`bruno_memory_integrations.filters.parse_filter` into SQL text plus a list
of parameters. The SQL text never contains a user value: field names, JSON
paths and compared values are all bound as ``?`` parameters.

How the reference semantics (``filters.evaluate``) map onto SQLite's JSON1:

* The type of a field comes from ``json_type``, never from the value: SQLite
  would compare the text ``'7'`` as greater than any number, and
  ``json_extract`` returns JSON ``true`` as the integer ``1``.
* Every comparison yields exactly 0 or 1, never NULL (a missing field makes the
  type test false before the value is looked at), so ``NOT`` is the full
  complement, including records where the field is missing or null.
* A field is a top-level key, looked up with the quoted path ``$."key"`` when
  the key is path-safe, else through ``json_each`` by key (see :func:`_field`).
* ``substring`` is ``instr`` (no wildcard exists); ``isubstring`` is a ``GLOB``
  pattern whose ASCII letters are classes like ``[aA]`` and whose wildcard
  characters are escaped as classes too (``[*]``), so only ASCII case is ignored
  and the operand's characters match only themselves.

SQLite's parser has a fixed stack of about 100 entries (each parenthesis or
function call nesting takes one to three) and an expression may be at most 1 000
levels deep. Every filter within the language's limits
(:data:`~bruno_memory_integrations.filters.MAX_DEPTH`,
:data:`~bruno_memory_integrations.filters.MAX_CONDITIONS`) fits, because the tree
is first put in its shallowest form (:func:`~bruno_memory_integrations.filters.simplify`:
negations on comparisons only, AND and OR alternating), the deepest child of each
node is written first (a parenthesis opened first costs one stack entry, after
``x AND`` three), and long lists of children are grouped in eights so no chain of
ANDs or ORs is longer than a few dozen.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import FilterError
from ...filters import (
    RANGE_OPS,
    And,
    Comparison,
    FilterNode,
    Not,
    Or,
    ascii_lower,
    simplify,
    value_kind,
)
from .cache import FALSE, MISSING, NUMBER, TRUE, MetadataColumn, Scalars

__all__ = ["field_sql", "to_mask", "to_sqlite_where"]

# Numbers compare with numbers only; SQLite compares INTEGER and REAL numerically.
_NUMBER_TYPES = "('integer','real')"
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
#: Children written inline before the rest are grouped in parentheses of this many.
_GROUP = 8
# Keys the JSON path `$."key"` addresses exactly in every SQLite version we met:
# quotes, backslashes and control characters are escaped in the stored JSON text
# (3.40 then fails to match) or read as escapes in the path (3.45+).
_PATH_UNSAFE = re.compile(r'["\\\x00-\x1f]')


@dataclass
class _Sql:
    """A fragment of SQL and the parameters its ``?`` placeholders take, in order."""

    text: str
    params: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class _Field:
    """How to read one metadata field: SQL for its JSON type and its value."""

    type_sql: str
    value_sql: str
    arg: str  # the single parameter both expressions take: a JSON path or a key
    by_path: bool


def _field(column: str, name: str) -> _Field:
    if _PATH_UNSAFE.search(name) is None:
        return _Field(
            f"json_type({column}, ?)", f"json_extract({column}, ?)", f'$."{name}"', True
        )
    # json_each yields each top-level key decoded, so any key compares exactly.
    return _Field(
        f"(SELECT type FROM json_each({column}) WHERE key = ?)",
        f"(SELECT value FROM json_each({column}) WHERE key = ?)",
        name,
        False,
    )


def _type_is(f: _Field, kind: str) -> _Sql:
    """A 0/1 test that the field holds a JSON value of ``kind`` (never NULL)."""
    if kind == "string":
        return _Sql(f"{f.type_sql} IS 'text'", [f.arg])
    if kind == "number":
        return _Sql(f"IFNULL({f.type_sql}, '') IN {_NUMBER_TYPES}", [f.arg])
    raise FilterError(f"no type test for {kind}")  # pragma: no cover - callers check


def _bool_is(f: _Field, values: set[bool]) -> _Sql:
    names = sorted("true" if v else "false" for v in values)
    listed = ",".join(f"'{n}'" for n in names)  # constants, never user input
    return _Sql(f"IFNULL({f.type_sql}, '') IN ({listed})", [f.arg])


def _number(value: Any) -> tuple[str, list[Any]]:
    """A filter number as SQL: a float goes through SQLite's own text-to-float
    conversion, the one that read the stored JSON, so equal floats compare equal
    even where that conversion is not correctly rounded (some SQLite builds are off
    by one unit in the last place for exponents beyond about ±200)."""
    if isinstance(value, float):
        return "CAST(? AS REAL)", [repr(value)]
    return "?", [value]


def _value_test(f: _Field, kind: str, op_sql: str, params: list[Any]) -> _Sql:
    """``type is kind AND value <op> ...``: 0 when the type differs, else never NULL."""
    guard = _type_is(f, kind)
    return _Sql(f"({guard.text} AND {f.value_sql} {op_sql})", [*guard.params, f.arg, *params])


def _contains(f: _Field, column: str, value: Any) -> _Sql:
    kind = value_kind(value)
    eparams: list[Any]
    if kind == "bool":
        elem, eparams = ("e.type = 'true'" if value else "e.type = 'false'"), []
    elif kind == "number":
        num, eparams = _number(value)
        elem = f"e.type IN {_NUMBER_TYPES} AND e.value = {num}"
    else:
        elem, eparams = "e.type = 'text' AND e.value = ?", [value]
    if f.by_path:
        # json_each over a scalar yields the scalar itself: the array test excludes it.
        return _Sql(
            f"({f.type_sql} IS 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each({column}, ?) AS e WHERE {elem}))",
            [f.arg, f.arg, *eparams],
        )
    # Walk only array values: json_each of a non-JSON scalar would be an error.
    return _Sql(
        f"EXISTS (SELECT 1 FROM json_each({column}) AS f, "
        f"json_each(CASE WHEN f.type = 'array' THEN f.value ELSE '[]' END) AS e "
        f"WHERE f.key = ? AND {elem})",
        [f.arg, *eparams],
    )


def _comparison(node: Comparison, column: str) -> _Sql:
    f = _field(column, node.field)
    op = node.op
    if op == "exists":
        return _Sql(f"IFNULL({f.type_sql}, 'null') <> 'null'", [f.arg])
    if op == "contains":
        return _contains(f, column, node.value)
    if op == "eq":
        kind = value_kind(node.value)
        if kind == "bool":
            return _bool_is(f, {node.value})
        if kind == "number":
            num, nparams = _number(node.value)
            return _value_test(f, kind, f"= {num}", nparams)
        return _value_test(f, kind, "= ?", [node.value])
    if op == "in":
        values = tuple(node.value)
        if not values:
            raise FilterError(f"$in on {node.field!r} needs at least one value")
        kinds = {value_kind(v) for v in values}
        if len(kinds) != 1:
            raise FilterError(f"$in on {node.field!r} mixes {sorted(kinds)}")
        (kind,) = kinds
        if kind == "bool":
            return _bool_is(f, set(values))
        # One JSON-array parameter: no limit on the number of values.
        return _value_test(f, kind, "IN (SELECT value FROM json_each(?))", [json.dumps(values)])
    if op in ("gt", "gte", "lt", "lte"):
        if value_kind(node.value) != "number":
            raise FilterError(f"${op} on {node.field!r} takes a number, got {node.value!r}")
        sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        num, nparams = _number(node.value)
        return _value_test(f, "number", f"{sym} {num}", nparams)
    if op == "substring":
        guard = _type_is(f, "string")
        return _Sql(
            f"({guard.text} AND instr({f.value_sql}, ?) > 0)", [*guard.params, f.arg, node.value]
        )
    if op == "isubstring":
        return _value_test(f, "string", "GLOB ?", [_glob_ignoring_ascii_case(node.value)])
    raise FilterError(f"the sqlite backend cannot translate the comparison {op!r}")


def _glob_ignoring_ascii_case(lowered: str) -> str:
    """``*…*`` matching ``lowered`` anywhere, ASCII letters in either case.

    Every GLOB wildcard (``*``, ``?``, ``[``) becomes a one-character class, so
    each operand character matches only itself (``]`` outside a class is literal).
    """
    out = []
    for c in lowered:
        if "a" <= c <= "z":
            out.append(f"[{c}{c.upper()}]")
        elif c in "*?[":
            out.append(f"[{c}]")
        else:
            out.append(c)
    return "*" + "".join(out) + "*"


def _height(node: FilterNode) -> int:
    if isinstance(node, (And, Or)):
        return 1 + max(_height(c) for c in node.children)
    return 0


def _emit(node: FilterNode, column: str) -> _Sql:
    if isinstance(node, Comparison):
        return _comparison(node, column)
    if isinstance(node, Not):  # only around a comparison (simplified tree), never NULL
        inner = _comparison(node.child, column)  # type: ignore[arg-type]
        return _Sql(f"(NOT ({inner.text}))", inner.params)
    word = " AND " if isinstance(node, And) else " OR "
    # Deepest first: the parenthesis it opens is the first token of the group, the
    # cheapest place on SQLite's parser stack.
    kids = sorted(node.children, key=_height, reverse=True)
    parts = [_emit(c, column) for c in kids]
    head, rest = parts[:_GROUP], parts[_GROUP:]
    groups = [_chain(rest[i : i + _GROUP], word) for i in range(0, len(rest), _GROUP)]
    if len(groups) > _GROUP:  # very many siblings: group the groups too
        groups = [_chain(groups[i : i + _GROUP], word) for i in range(0, len(groups), _GROUP)]
    return _chain(head + groups, word)


def _chain(parts: list[_Sql], word: str) -> _Sql:
    if len(parts) == 1:
        return parts[0]
    params: list[Any] = []
    for p in parts:
        params += p.params
    return _Sql("(" + word.join(p.text for p in parts) + ")", params)


def to_sqlite_where(node: FilterNode | None, column: str = "metadata") -> tuple[str, list[Any]]:
    """SQL for "``column`` (a JSON object) matches ``node``", with its parameters.

    Args:
        node: A parsed filter; ``None`` matches everything.
        column: The SQL column holding the metadata JSON, e.g. ``"r.metadata"``.
            It is SQL text, so it must be a plain (optionally qualified) identifier.

    Returns:
        ``(sql, params)``: an expression that is 0 or 1 for every row, and the
        values for its ``?`` placeholders in order.

    Raises:
        FilterError: the tree holds something this translator does not know.
    """
    if not _COLUMN.match(column):
        raise ValueError(f"not a plain column name: {column!r}")
    if node is None:
        return "1", []
    result = _emit(simplify(node), column)
    return result.text, result.params


# ---------------------------------------------------------------- over cached columns
# The same semantics evaluated in numpy over the metadata columns the vector cache
# keeps (cache.MetadataColumn), for exact search: there the filter costs a few
# vectorized comparisons instead of parsing every row's JSON in SQL.

_NUMBER_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le,
}


def field_sql(name: str) -> _Field:
    """How the column cache reads ``name`` from ``bruno_records.metadata``: the same
    lookup (path or ``json_each`` by key) as the SQL filters."""
    return _field("metadata", name)


def _numbers(slots: Scalars, n: int, op: str, values: tuple[Any, ...]) -> np.ndarray:
    """Slots holding a number that is ``op`` one of ``values`` (one value unless ``eq``),
    exactly: float64 decides unless a tie may hide a difference float64 cannot see."""
    is_num = slots.kind[:n] == NUMBER
    num = slots.num[:n]
    floats = [float(v) for v in values]
    if len(values) == 1:
        mask = is_num & _NUMBER_OPS[op](num, floats[0])
    else:
        mask = is_num & np.isin(num, floats)
    inexact = any(f != v for f, v in zip(floats, values, strict=True))
    if not slots.big and not inexact:
        return mask
    ties = np.flatnonzero(is_num & np.isin(num, floats))
    check = ties if inexact else slots.big_among(ties)
    compare = _NUMBER_OPS[op]
    for p in check.tolist():
        x = slots.big.get(p, float(num[p]))
        mask[p] = any(compare(x, v) for v in values)
    return mask


def _scalars_equal(
    col: MetadataColumn, slots: Scalars, n: int, values: tuple[Any, ...]
) -> np.ndarray:
    """Slots equal to one of ``values`` (all of one kind, as the parser guarantees)."""
    kind = value_kind(values[0])
    if kind == "bool":
        return np.isin(slots.kind[:n], [TRUE if v else FALSE for v in values])
    if kind == "number":
        return _numbers(slots, n, "eq", values)
    codes = [c for c in (col.code_of(v) for v in values) if c is not None]
    if not codes:
        return np.zeros(n, dtype=bool)
    return np.isin(slots.code[:n], codes)  # only strings have a code (>= 0)


def _strings_where(col: MetadataColumn, n: int, test: Callable[[str], bool]) -> np.ndarray:
    """Rows whose value is a string passing ``test`` (run once per distinct string)."""
    lut = np.fromiter((test(s) for s in col.strings), dtype=bool, count=len(col.strings))
    lut = np.append(lut, False)  # code -1 (not a string) reads the last entry
    return lut[col.rows.code[:n]]


def _comparison_mask(node: Comparison, col: MetadataColumn, n: int) -> np.ndarray:
    rows, op, value = col.rows, node.op, node.value
    if op == "exists":
        return rows.kind[:n] != MISSING
    if op == "eq":
        return _scalars_equal(col, rows, n, (value,))
    if op == "in":
        return _scalars_equal(col, rows, n, tuple(value))
    if op in RANGE_OPS:
        return _numbers(rows, n, op, (value,))
    if op == "substring":
        return _strings_where(col, n, lambda s: value in s)
    if op == "isubstring":
        return _strings_where(col, n, lambda s: value in ascii_lower(s))
    if op == "contains":
        m = col.element_fill
        hit = _scalars_equal(col, col.elements, m, (value,))
        owners = col.element_row[:m][hit]
        mask = np.zeros(n, dtype=bool)
        mask[owners[owners < n]] = True
        return mask
    raise FilterError(f"the sqlite backend cannot evaluate the comparison {op!r}")


def to_mask(node: FilterNode, columns: Mapping[str, MetadataColumn], n: int) -> np.ndarray:
    """Which of the first ``n`` cached rows match ``node``, as a boolean array.

    ``columns`` holds a column for every field of the filter
    (``filters.fields_of``), covering at least ``n`` rows. The semantics are those
    of :func:`to_sqlite_where` and the reference: a missing or null field fails
    every comparison but ``Not``, numbers compare exactly, types never mix.
    """
    if isinstance(node, Comparison):
        return _comparison_mask(node, columns[node.field], n)
    if isinstance(node, Not):
        mask = to_mask(node.child, columns, n)
        return np.logical_not(mask, out=mask)
    children = iter(node.children)
    acc = to_mask(next(children), columns, n)
    for child in children:  # reduce in place: one mask alive per level
        if isinstance(node, And):
            acc &= to_mask(child, columns, n)
        else:
            acc |= to_mask(child, columns, n)
    return acc
