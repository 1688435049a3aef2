"""LlamaIndex ``MetadataFilters`` translated to the portable filter language.

Every LlamaIndex operator either has an exact translation (see the table in
docs/llama_index.md) or raises :class:`~bruno_memory_integrations.errors.FilterError`:
a condition is never dropped or loosened.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ..errors import FilterError
from ..filters import parse_filter

__all__ = ["to_bruno_filter"]

_SCALAR_OPS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.CONTAINS: "$contains",
}
_LIST_OPS = {FilterOperator.IN: "$in", FilterOperator.NIN: "$nin"}


def _values(f: MetadataFilter) -> list[Any]:
    if not isinstance(f.value, list):
        raise FilterError(f"{f.operator.name} on {f.key!r} takes a list of values, got {f.value!r}")
    if not f.value:
        raise FilterError(f"{f.operator.name} on {f.key!r} takes a non-empty list of values")
    return list(f.value)


def _one(f: MetadataFilter) -> dict[str, Any]:
    op = f.operator
    if op in _SCALAR_OPS:
        if isinstance(f.value, list):
            raise FilterError(
                f"{op.name} on {f.key!r} takes a single value, got the list {f.value!r}"
            )
        return {f.key: {_SCALAR_OPS[op]: f.value}}
    if op in _LIST_OPS:
        return {f.key: {_LIST_OPS[op]: _values(f)}}
    if op == FilterOperator.IS_EMPTY:
        return {f.key: {"$exists": False}}
    if op in (FilterOperator.ANY, FilterOperator.ALL):
        parts = [{f.key: {"$contains": v}} for v in _values(f)]
        if len(parts) == 1:
            return parts[0]
        return {"$or": parts} if op == FilterOperator.ANY else {"$and": parts}
    if op == FilterOperator.TEXT_MATCH:
        return {f.key: {"$substring": f.value}}
    if op == FilterOperator.TEXT_MATCH_INSENSITIVE:
        # Our $isubstring folds ASCII letters only (the one case rule every store
        # applies alike); LlamaIndex lower-cases all of Unicode. They agree unless
        # the operand holds a non-ASCII letter with case, which is refused.
        if isinstance(f.value, str) and any(
            ord(c) > 127 and (c.lower() != c or c.upper() != c) for c in f.value
        ):
            raise FilterError(
                f"TEXT_MATCH_INSENSITIVE on {f.key!r}: {f.value!r} has non-ASCII letters, "
                f"whose case is not ignored the same way by every store; use TEXT_MATCH "
                f"with the exact case"
            )
        return {f.key: {"$isubstring": f.value}}
    raise FilterError(f"unknown LlamaIndex filter operator {op!r} on {f.key!r}")


def _group(filters: MetadataFilters, top: bool) -> dict[str, Any]:
    parts = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            parts.append(_group(f, top=False))
        elif isinstance(f, MetadataFilter):
            parts.append(_one(f))
        else:
            raise FilterError(f"expected MetadataFilter or MetadataFilters, got {f!r}")
    if not parts:
        if top:
            return {}
        raise FilterError("an empty MetadataFilters inside another one means nothing; remove it")
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if condition == FilterCondition.OR:
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if condition == FilterCondition.NOT:
        # LlamaIndex's NOT matches when none of the filters match.
        return {"$not": parts[0] if len(parts) == 1 else {"$or": parts}}
    raise FilterError(f"unknown LlamaIndex filter condition {condition!r}")


def to_bruno_filter(filters: MetadataFilters | None) -> dict[str, Any]:
    """Translate LlamaIndex ``MetadataFilters`` into a filter dict of our language.

    Args:
        filters: The filters, possibly nested, with ``AND`` / ``OR`` / ``NOT``
            conditions. ``None`` or an empty top-level list means "everything".

    Returns:
        A filter dict (``{}`` for everything), already checked by
        :func:`~bruno_memory_integrations.filters.parse_filter`.

    Raises:
        FilterError: an operator has no exact translation (unknown ones, or
            ``TEXT_MATCH_INSENSITIVE`` with non-ASCII letters) or an operand is wrong
            (a string for ``GT``, an empty list for ``IN`` ...). A store that cannot
            express substring conditions (Redis) raises it when the filter is used.
    """
    if filters is None:
        return {}
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"expected MetadataFilters, got {type(filters).__name__}")
    spec = _group(filters, top=True)
    parse_filter(spec)  # raise FilterError now, not deep inside a backend
    return spec
