"""Our filter language -> Pinecone's metadata filter. Pure functions, no I/O.

Pinecone's language has ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``
but no ``$not``, and its treatment of records that lack a field is not something
to build on. So the filter goes through the core's negation normal form (``Not``
only around a comparison), and every comparison reads the typed, hashed fields
``codec.filter_fields`` writes (``s_<h>`` strings, ``n_<h>`` numbers, ``b_<h>``
booleans, ``l_<h>`` lists of strings) plus the tag list ``_t``, present on every
record, naming each key that holds a value and the value's kind. A negated
comparison becomes "the key holds no value of that kind, or the value differs":

=========================  ================================================
ours                       Pinecone
=========================  ================================================
``k == v`` (a string)      ``{"s_h": {"$eq": v}}``
``not k == v``             ``$or [{"_t": {"$nin": ["h.s"]}}, {"s_h": {"$ne": v}}]``
``k > 3``                  ``{"n_h": {"$gt": 3}}``
``not k > 3``              ``$or [{"_t": {"$nin": ["h.n"]}}, {"n_h": {"$lte": 3}}]``
``k exists``               ``{"_t": {"$in": ["h.s", "h.n", "h.b", "h.l", "h.e"]}}``
``not k exists``           ``{"_t": {"$nin": [...the same...]}}``
``k contains "x"``         ``{"l_h": {"$in": ["x"]}}``
=========================  ================================================

Each disjunct of a negation only reads a field on records that hold it, so the
result does not depend on what ``$ne`` / ``$nin`` do with absent fields. Refused
with :class:`FilterError`: ``$substring`` / ``$isubstring`` (Pinecone has no
substring test) and numbers of magnitude 2**53 or more (Pinecone keeps numbers as
64-bit floats, which cannot hold every integer there).
"""

from __future__ import annotations

from typing import Any

from ...errors import FilterError
from ...filters import And, Comparison, FilterNode, Not, to_negation_normal_form, value_kind
from .codec import TAGS, field, tag

__all__ = ["ALWAYS", "NEVER", "Translated", "to_pinecone_filter"]


class _Const:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ALWAYS = _Const("ALWAYS")
NEVER = _Const("NEVER")
Translated = dict[str, Any] | _Const
_KIND = {"string": "s", "number": "n", "bool": "b"}
_NEGATE = {"gt": "$lte", "gte": "$lt", "lt": "$gte", "lte": "$gt"}
MAX_EXACT = 2**53


def _refuse_unexpressible(node: FilterNode) -> None:
    stack: list[FilterNode] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Comparison):
            if n.op in ("substring", "isubstring"):
                raise FilterError(
                    f"Pinecone has no substring test: ${n.op} on {n.field!r} cannot be "
                    f"translated; filter on whole values ($eq, $in) or on a list of words "
                    f"($contains)"
                )
            values = n.value if n.op == "in" else (n.value,)
            for v in values:
                if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= MAX_EXACT:
                    raise FilterError(
                        f"Pinecone stores numbers as 64-bit floats: {v!r} (on {n.field!r}) is "
                        f"beyond 2**53, where they cannot compare exactly; use smaller numbers "
                        f"or strings"
                    )
        elif isinstance(n, Not):
            stack.append(n.child)
        else:
            stack.extend(n.children)


def _all_tags(key: str) -> list[str]:
    return [tag(key, k) for k in ("s", "n", "b", "l", "e")]


def _and(parts: list[Translated]) -> Translated:
    out: list[dict[str, Any]] = []
    for p in parts:
        if p is NEVER:
            return NEVER
        if p is not ALWAYS:
            out.append(p)  # type: ignore[arg-type]
    if not out:
        return ALWAYS
    return out[0] if len(out) == 1 else {"$and": out}


def _or(parts: list[Translated]) -> Translated:
    out: list[dict[str, Any]] = []
    for p in parts:
        if p is ALWAYS:
            return ALWAYS
        if p is not NEVER:
            out.append(p)  # type: ignore[arg-type]
    if not out:
        return NEVER
    return out[0] if len(out) == 1 else {"$or": out}


def _lacks(key: str, kind: str) -> dict[str, Any]:
    return {TAGS: {"$nin": [tag(key, kind)]}}


def _comparison(c: Comparison, negated: bool) -> Translated:
    key, op, v = c.field, c.op, c.value
    if op == "exists":
        return {TAGS: {"$nin" if negated else "$in": _all_tags(key)}}
    if op == "contains":
        if value_kind(v) != "string":  # lists hold strings only
            return ALWAYS if negated else NEVER
        f = field(key, "l")
        if negated:
            return _or([_lacks(key, "l"), {f: {"$nin": [v]}}])
        return {f: {"$in": [v]}}
    if op in _NEGATE:
        f = field(key, "n")
        if negated:
            return _or([_lacks(key, "n"), {f: {_NEGATE[op]: v}}])
        return {f: {f"${op}": v}}
    if op == "eq":
        kind = _KIND[value_kind(v)]
        f = field(key, kind)
        if negated:
            return _or([_lacks(key, kind), {f: {"$ne": v}}])
        return {f: {"$eq": v}}
    if op == "in":
        values = list(v)
        if not values:
            return ALWAYS if negated else NEVER
        kind = _KIND[value_kind(values[0])]
        f = field(key, kind)
        if kind == "b":  # Pinecone's $in / $nin take strings and numbers
            conds: list[Translated] = [{f: {"$ne" if negated else "$eq": b}}
                                       for b in dict.fromkeys(values)]
            if negated:
                return _or([_lacks(key, kind), _and(conds)])
            return _or(conds)
        if negated:
            return _or([_lacks(key, kind), {f: {"$nin": values}}])
        return {f: {"$in": values}}
    raise FilterError(f"the pinecone backend cannot translate ${op}")  # pragma: no cover


def _translate(node: FilterNode) -> Translated:
    if isinstance(node, Not):
        assert isinstance(node.child, Comparison)  # negation normal form
        return _comparison(node.child, True)
    if isinstance(node, Comparison):
        return _comparison(node, False)
    parts = [_translate(c) for c in node.children]
    return _and(parts) if isinstance(node, And) else _or(parts)


def to_pinecone_filter(node: FilterNode | None) -> Translated:
    """The Pinecone filter for ``node``: a dict, or ALWAYS / NEVER when it is constant.

    Raises:
        FilterError: substring tests, or numbers beyond 2**53.
    """
    if node is None:
        return ALWAYS
    _refuse_unexpressible(node)
    return _translate(to_negation_normal_form(node))

