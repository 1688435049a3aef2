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
  type test false before the value is looked at), and ``NOT`` additionally maps
  NULL to 0 first, so ``NOT`` is the full complement, including records where
  the field is missing or null.
* A field is a top-level key, looked up with the quoted path ``$."key"`` when
  the key is path-safe, else through ``json_each`` by key (see :func:`_field`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import FilterError
from ...filters import Comparison, FilterNode, fold, value_kind

__all__ = ["to_sqlite_where"]

# Numbers compare with numbers only; SQLite compares INTEGER and REAL numerically.
_NUMBER_TYPES = "('integer','real')"
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
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


def _value_test(f: _Field, kind: str, op_sql: str, params: list[Any]) -> _Sql:
    """``type is kind AND value <op> ...``: 0 when the type differs, else never NULL."""
    guard = _type_is(f, kind)
    return _Sql(f"({guard.text} AND {f.value_sql} {op_sql})", [*guard.params, f.arg, *params])


def _contains(f: _Field, column: str, value: Any) -> _Sql:
    kind = value_kind(value)
    if kind == "bool":
        elem, eparams = ("e.type = 'true'" if value else "e.type = 'false'"), []
    elif kind == "number":
        elem, eparams = f"e.type IN {_NUMBER_TYPES} AND e.value = ?", [value]
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
        return _value_test(f, "number", f"{sym} ?", [node.value])
    raise FilterError(f"the sqlite backend cannot translate the comparison {op!r}")


def _join(parts: list[_Sql], word: str) -> _Sql:
    params: list[Any] = []
    for p in parts:
        params += p.params
    return _Sql("(" + f" {word} ".join(p.text for p in parts) + ")", params)


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
    result = fold(
        node,
        lambda c: _comparison(c, column),
        lambda parts: _join(parts, "AND"),
        lambda parts: _join(parts, "OR"),
        lambda part: _Sql(f"(NOT IFNULL({part.text}, 0))", part.params),
    )
    return result.text, result.params
