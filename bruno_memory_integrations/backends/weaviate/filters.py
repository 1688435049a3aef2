"""The filter translator: a parsed filter tree -> a Weaviate filter, exactly.

Metadata lives in typed properties, one per (key, kind of value) (see
:mod:`.schema`), so one comparison becomes a condition on the properties of the
kinds that can match it:

========================= =====================================================
ours                      Weaviate
========================= =====================================================
``eq`` string             ``ms_…`` Equal ``|value|`` (wrapped, ``field`` tokenized)
``eq`` number             ``mi_…`` Equal (if the number is integral) OR ``mf_…`` Equal
``eq`` boolean            ``mb_…`` Equal
``gt gte lt lte``         ``mi_…`` (bounds rounded to the integers they mean) OR ``mf_…``
``in``                    OR of ``eq``
``contains``              ContainsAny on the list property of the operand's kind(s)
``exists``                ``bruno_keys`` ContainsAny ``|key|``
And / Or / Not            And / Or / Not (Weaviate's Not is the full complement, so
                          "not equal" includes records without the field, as ours)
========================= =====================================================

A property that does not exist in the collection yet holds no value, so a condition
on it is constant false; constants are folded away (a filter that is always true
becomes no filter, one that is never true skips the query). Weaviate's ``Not`` needs
Weaviate 1.33; the backend checks the server version. A number operand that a
float64 cannot hold exactly, compared with float values, raises FilterError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from weaviate.classes.query import Filter

from ...errors import FilterError
from ...filters import Comparison, FilterNode, fold
from .schema import KEYS, meta_property, wrap

__all__ = ["ALWAYS", "NEVER", "Translated", "to_weaviate_filter", "wanted_properties"]

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_EXACT_FLOAT = 2**53

#: Constant results of a translation.
ALWAYS = True
NEVER = False
Translated = Any  # a weaviate filter, or ALWAYS / NEVER (bools)


def _and(parts: list[Translated]) -> Translated:
    if any(p is NEVER for p in parts):
        return NEVER
    rest = [p for p in parts if p is not ALWAYS]
    if not rest:
        return ALWAYS
    return rest[0] if len(rest) == 1 else Filter.all_of(rest)


def _or(parts: list[Translated]) -> Translated:
    if any(p is ALWAYS for p in parts):
        return ALWAYS
    rest = [p for p in parts if p is not NEVER]
    if not rest:
        return NEVER
    return rest[0] if len(rest) == 1 else Filter.any_of(rest)


def _not(part: Translated) -> Translated:
    if part is ALWAYS:
        return NEVER
    if part is NEVER:
        return ALWAYS
    return Filter.not_(part)


def _float(value: float, field: str) -> float:
    if isinstance(value, int) and abs(value) > _EXACT_FLOAT:
        raise FilterError(
            f"{value} on {field!r} is beyond 2**53: Weaviate compares float values as 64-bit "
            f"floats, which cannot hold it exactly"
        )
    return float(value)


def _int_range(op: str, value: float) -> tuple[str, int] | bool:
    """``int_property op value`` as a comparison with an integer bound, or a constant."""
    if isinstance(value, int):
        bound = value
    elif op in ("gt", "lte"):
        bound = math.floor(value)
    else:
        bound = math.ceil(value)
    # gt x == gt floor(x); gte x == gte ceil(x); lt x == lt ceil(x); lte x == lte floor(x)
    if bound > _INT_MAX:
        return op in ("lt", "lte")
    if bound < _INT_MIN:
        return op in ("gt", "gte")
    return op, bound


def _range(prop: Any, op: str, value: Any) -> Any:
    return {
        "gt": prop.greater_than,
        "gte": prop.greater_or_equal,
        "lt": prop.less_than,
        "lte": prop.less_or_equal,
    }[op](value)


def _eq_number(field: str, value: float, has: Callable[[str], bool]) -> Translated:
    parts: list[Translated] = []
    ip, fp = meta_property(field, "i"), meta_property(field, "f")
    if has(ip) and float(value).is_integer() and _INT_MIN <= value <= _INT_MAX:
        parts.append(Filter.by_property(ip).equal(int(value)))
    if has(fp):
        parts.append(Filter.by_property(fp).equal(_float(value, field)))
    return _or(parts)


def _eq(field: str, value: Any, has: Callable[[str], bool]) -> Translated:
    if isinstance(value, bool):
        prop = meta_property(field, "b")
        return Filter.by_property(prop).equal(value) if has(prop) else NEVER
    if isinstance(value, str):
        prop = meta_property(field, "s")
        return Filter.by_property(prop).equal(wrap(value)) if has(prop) else NEVER
    return _eq_number(field, value, has)


def _contains(field: str, value: Any, has: Callable[[str], bool]) -> Translated:
    if isinstance(value, bool):
        prop = meta_property(field, "lb")
        return Filter.by_property(prop).contains_any([value]) if has(prop) else NEVER
    if isinstance(value, str):
        prop = meta_property(field, "ls")
        return Filter.by_property(prop).contains_any([wrap(value)]) if has(prop) else NEVER
    parts: list[Translated] = []
    ip, fp = meta_property(field, "li"), meta_property(field, "lf")
    if has(ip) and float(value).is_integer() and _INT_MIN <= value <= _INT_MAX:
        parts.append(Filter.by_property(ip).contains_any([int(value)]))
    if has(fp):
        parts.append(Filter.by_property(fp).contains_any([_float(value, field)]))
    return _or(parts)


def _comparison(node: Comparison, has: Callable[[str], bool]) -> Translated:
    field, op, value = node.field, node.op, node.value
    if op != "exists":
        for v in value if op == "in" else (value,):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= _EXACT_FLOAT:
                raise FilterError(
                    f"the weaviate backend cannot compare numbers beyond ±2**53 exactly (got "
                    f"{v!r} on {field!r}): the client sends numbers to Weaviate as doubles"
                )
    if op == "exists":
        return Filter.by_property(KEYS).contains_any([wrap(field)]) if has(KEYS) else NEVER
    if op == "eq":
        return _eq(field, value, has)
    if op == "in":
        return _or([_eq(field, v, has) for v in value])
    if op == "contains":
        return _contains(field, value, has)
    if op in ("gt", "gte", "lt", "lte"):
        parts: list[Translated] = []
        ip, fp = meta_property(field, "i"), meta_property(field, "f")
        if has(ip):
            r = _int_range(op, value)
            parts.append(
                r if isinstance(r, bool) else _range(Filter.by_property(ip), r[0], r[1])
            )
        if has(fp):
            parts.append(_range(Filter.by_property(fp), op, _float(value, field)))
        return _or(parts)
    raise FilterError(f"the weaviate backend cannot express the comparison {op!r}")


def to_weaviate_filter(node: FilterNode | None, has: Callable[[str], bool]) -> Translated:
    """Translate a parsed filter; ``has(property)`` says which properties exist.

    Returns a Weaviate filter, :data:`ALWAYS` (no filter) or :data:`NEVER` (nothing
    matches).
    """
    if node is None:
        return ALWAYS
    return fold(node, lambda c: _comparison(c, has), _and, _or, _not)


def wanted_properties(node: FilterNode | None) -> set[str]:
    """Every property a translation of ``node`` may refer to."""
    out: set[str] = set()

    def visit(c: Comparison) -> None:
        if c.op == "exists":
            out.add(KEYS)
            return
        values = c.value if c.op == "in" else (c.value,)
        for v in values:
            if isinstance(v, bool):
                kinds = ["lb"] if c.op == "contains" else ["b"]
            elif isinstance(v, str):
                kinds = ["ls"] if c.op == "contains" else ["s"]
            else:
                kinds = ["li", "lf"] if c.op == "contains" else ["i", "f"]
            out.update(meta_property(c.field, k) for k in kinds)

    if node is not None:
        fold(node, visit, lambda _: None, lambda _: None, lambda _: None)
    return out


def uses_not(node: FilterNode | None) -> bool:
    """Whether a translation of ``node`` may use Weaviate's Not operator."""
    if node is None:
        return False
    return bool(fold(node, lambda _: False, any, any, lambda _: True))
