"""The portable filter language compiled to a PostgreSQL ``WHERE`` clause over JSONB.

Every value and every field name is a bound parameter; only fixed SQL text and the
metadata column's identifier are written into the query. The result follows the
reference evaluator (:func:`bruno_memory_integrations.filters.evaluate`) exactly:

* equality, ``in`` and ``contains`` use JSONB containment (``@>``), which compares
  numbers numerically (``3 = 3.0``), never matches a string with a number or a
  boolean with anything but a boolean, never matches a list with a scalar
  (``{"k": ["v"]}`` does not contain ``{"k": "v"}``), and is served by the GIN index;
* ``exists`` is "present and not JSON null" (``?`` is indexed; null is checked apart);
* ranges only match JSON numbers: ``jsonb_typeof`` guards the ``numeric`` cast, so a
  string such as ``"7"`` never matches and never raises;
* ``substring`` is ``strpos`` on the string (no wildcard exists); ``isubstring``
  lower-cases ASCII letters only, with ``translate`` (``lower()`` would follow the
  database's locale), and compares with the operand lower-cased the same way;
* each comparison is two-valued (never SQL NULL), so ``NOT`` is the full complement,
  including the records that lack the field.

Numbers need no care beyond the core's canonical form: every float a filter or a
record holds is either below 2**53 in magnitude (its shortest decimal, which JSONB
keeps, orders exactly like its binary value against every other such number and
every integer) or an integer (stored exactly), or beyond the 64-bit range where
only floats exist and shortest decimals order like their values.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from ...errors import FilterError
from ...filters import Comparison, FilterNode, fold, simplify

__all__ = ["METADATA", "Where", "to_postgres_where"]

#: The default metadata column.
METADATA = sql.Identifier("metadata")

Where = tuple[sql.Composable, list[Any]]
"""A boolean SQL expression and the parameters of its ``%s`` placeholders, in order."""

_RANGE_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

#: Filters over the default column, compiled once: the clause as plain SQL text (which
#: the statements built on it key their own caches by) and its parameters. Applications
#: repeat the same few filters, and composing a clause takes more Python calls than the
#: rest of a search.
_COMPILED: dict[str, tuple[sql.SQL, tuple[Any, ...]]] = {}
_COMPILED_MAX = 1024
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _number(value: Any) -> Decimal:
    # Decimal of the shortest repr: the same digits the record's JSON holds, so
    # numeric comparison in PostgreSQL agrees with Python's float comparison.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _comparison(node: Comparison, column: sql.Composable) -> Where:
    field, op, value = node.field, node.op, node.value
    if op == "eq":
        return sql.SQL("{} @> %s").format(column), [Jsonb({field: value})]
    if op == "in":
        # One containment test per value, ORed by the array operator (bitmap-indexable).
        return (
            sql.SQL("{} @> ANY(%s::jsonb[])").format(column),
            [[Jsonb({field: v}) for v in value]],
        )
    if op == "contains":
        return sql.SQL("{} @> %s").format(column), [Jsonb({field: [value]})]
    if op == "exists":
        return (
            sql.SQL("({col} ? %s AND ({col} -> %s) <> 'null'::jsonb)").format(col=column),
            [field, field],
        )
    if op in _RANGE_SQL:
        # CASE guards the cast (strings and booleans never match, nor raise);
        # COALESCE makes "missing" false rather than NULL, so NOT stays exact.
        return (
            sql.SQL(
                "COALESCE(CASE WHEN jsonb_typeof({col} -> %s) = 'number' "
                "THEN ({col} -> %s)::numeric {op} %s END, false)"
            ).format(col=column, op=sql.SQL(_RANGE_SQL[op])),
            [field, field, _number(value)],
        )
    if op in ("substring", "isubstring"):
        text = sql.SQL("({col} ->> %s)").format(col=column)
        if op == "isubstring":  # the operand is lower-cased by the parser
            text = sql.SQL("translate({}, %s, %s)").format(text)
            args: list[Any] = [field, _ASCII_UPPER, _ASCII_UPPER.lower()]
        else:
            args = [field]
        return (
            sql.SQL(
                "COALESCE(jsonb_typeof({col} -> %s) = 'string' AND strpos({text}, %s) > 0, false)"
            ).format(col=column, text=text),
            [field, *args, value],
        )
    raise FilterError(f"the postgresql backend cannot express the filter operator {op!r}")


def _join(word: str) -> Callable[[list[Where]], Where]:
    def join(parts: list[Where]) -> Where:
        params: list[Any] = []
        for _, p in parts:
            params.extend(p)
        body = sql.SQL(f" {word} ").join(sql.SQL("({})").format(q) for q, _ in parts)
        return sql.SQL("({})").format(body), params

    return join


def _not(part: Where) -> Where:
    return sql.SQL("(NOT ({}))").format(part[0]), part[1]


def to_postgres_where(node: FilterNode | None, column: sql.Composable = METADATA) -> Where:
    """Compile a parsed filter to a boolean SQL expression with bound parameters.

    Args:
        node: The tree from :func:`~bruno_memory_integrations.filters.parse_filter`;
            ``None`` means every record (``TRUE``).
        column: The JSONB column (or qualified column) holding the metadata.

    Returns:
        ``(expression, params)``; the expression's ``%s`` placeholders take
        ``params`` in order.

    Raises:
        FilterError: the tree holds an operator this translator does not know.
    """
    if node is None:
        return sql.SQL("TRUE"), []
    if column is not METADATA:
        return _compile(node, column)
    # Keyed by repr, not by the tree: equal trees can differ in type (True == 1 == 1.0),
    # and each type compiles to its own JSON.
    key = repr(node)
    hit = _COMPILED.get(key)
    if hit is None:
        clause, params = _compile(node, METADATA)
        hit = sql.SQL(clause.as_string(None)), tuple(params)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = hit
    return hit[0], list(hit[1])


def _compile(node: FilterNode, column: sql.Composable) -> Where:
    # The shallowest equivalent tree: fewer nested SQL fragments to compose.
    where: Where = fold(
        simplify(node), lambda c: _comparison(c, column), _join("AND"), _join("OR"), _not
    )
    return where
