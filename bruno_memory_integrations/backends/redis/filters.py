"""Metadata filters for Redis search: how metadata is indexed, and filter -> query.

Pure functions, no I/O; command text lives in ``query.py``.

How metadata is indexed (see docs/backends/redis.md):

* Every metadata key gets two schema fields with generated names that depend only
  on the key (a hash), so no user key ever appears in a query or schema:
  ``m<hash>t`` (TAG) and ``m<hash>n`` (NUMERIC).
* The TAG field holds one tag per fact about the value, each tag a hex digest of
  ``kind + NUL + value``: ``s`` for a string, ``b`` for a boolean, ``l`` for each
  element of a list and ``e`` ("exists") for any non-null value. Digests keep
  TAG matching exact: Redis TAGs otherwise trim spaces, fold case, split on the
  separator and ignore empty strings. A digest is plain hex, so it needs no
  escaping and cannot change the query.
* The NUMERIC field holds int and float values (never booleans or strings).

Filters are translated from the parsed tree (:mod:`..filters`) so that the result
is exactly the reference semantics: a comparison on a key that no record has
ever been written with matches nothing, ``Not`` is Redis' ``-(...)``, which is the
full complement (it matches records without the field).

Two things cannot be expressed and raise :class:`FilterError`, whatever the data:
numbers of magnitude 2**53 or more (the NUMERIC index holds doubles) and
``$substring`` / ``$isubstring`` (the index holds digests of values, and a raw TAG
field would split values on its separator and trim their spaces).

The query parser has a small fixed stack, so the tree is first put in its
shallowest form (:func:`~bruno_memory_integrations.filters.simplify`), children
are written deepest first (a parenthesis opened first costs the least), and only
compound children get parentheses: every filter within the language's limits fits.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import FilterError, InvalidMetadataError
from ...filters import And, Comparison, FilterNode, Not, Or, simplify
from ..encoding import key_hash

__all__ = [
    "EXISTS_TAG",
    "MATCH_ALL",
    "MATCH_NOTHING",
    "MAX_EXACT_NUMBER",
    "TAG_SEPARATOR",
    "FieldSchema",
    "escape_tag",
    "format_number",
    "metadata_fields",
    "numeric_field",
    "tag_field",
    "tag_value",
    "to_redis_query",
]

#: Query matching every record of an index.
MATCH_ALL = "*"
#: Query matching no record: sort keys are never negative. Backends skip such queries.
MATCH_NOTHING = "@sk:[-1 -1]"

#: Largest magnitude a filter number may have: the NUMERIC index stores doubles,
#: which hold every integer only up to 2**53, so beyond it a comparison with a
#: stored integer could be wrong. Such filters are refused, never loosened.
MAX_EXACT_NUMBER = 2**53

TAG_SEPARATOR = ","

#: Most alternatives in one union that may hold a negation. Above
#: UNION_ITERATOR_HEAP (20 by default) RediSearch uses a heap-based union, which in
#: Redis Stack 7.4 returned duplicates, skipped documents and once looped forever
#: when an alternative was a negation and the index had deleted documents (any
#: replaced record leaves some); see :func:`_union`.
MAX_UNION = 16

_SAFE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASCII_WORD_CHAR = re.compile(r"[A-Za-z0-9]")


# ------------------------------------------------------------------ escaping
def escape(text: str) -> str:
    """Backslash every ASCII character that is not a letter or digit.

    Punctuation, spaces and control characters become literal; non-ASCII
    characters are never query syntax.
    """
    return "".join(c if ord(c) > 127 or _ASCII_WORD_CHAR.match(c) else "\\" + c for c in text)


def escape_tag(value: str) -> str:
    """Escape a value for use inside ``@field:{...}``: every punctuation and space."""
    return escape(value)


def _check_field_name(name: str) -> str:
    # Field names are generated, never taken from users; this guards the generator.
    if not _SAFE_FIELD.match(name):  # pragma: no cover - generated names always pass
        raise ValueError(f"unsafe field name {name!r}")
    return name


# ------------------------------------------------------------------ fields and tags
def tag_field(key: str) -> str:
    """Name of the TAG field that indexes metadata key ``key``."""
    return _check_field_name(f"m{key_hash(key)}t")


def numeric_field(key: str) -> str:
    """Name of the NUMERIC field that indexes metadata key ``key``."""
    return _check_field_name(f"m{key_hash(key)}n")


def tag_value(kind: str, value: str = "") -> str:
    """The tag recording one fact: ``kind`` is ``s``, ``b``, ``l`` or ``e``."""
    data = f"{kind}\x00{value}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _bool_tag(value: bool) -> str:
    return tag_value("b", "true" if value else "false")


EXISTS_TAG = tag_value("e")


def format_number(value: Any) -> str:
    """A number as the NUMERIC index and query syntax read it back exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FilterError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{value!r} is not a finite number")
        return repr(value)
    return str(value)


def _filter_number(value: Any) -> str:
    if abs(value) >= MAX_EXACT_NUMBER:
        raise FilterError(
            f"the redis backend cannot compare numbers beyond ±2**53 exactly (got {value!r}): "
            f"its NUMERIC index stores doubles"
        )
    return format_number(value)


def metadata_fields(metadata: dict[str, Any]) -> dict[str, str]:
    """The generated hash fields that index one record's metadata."""
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if value is None:
            continue  # null is the same as missing
        tags = [EXISTS_TAG]
        if isinstance(value, bool):
            tags.append(_bool_tag(value))
        elif isinstance(value, (int, float)):
            out[numeric_field(key)] = format_number(value)
        elif isinstance(value, str):
            tags.append(tag_value("s", value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            tags.extend(tag_value("l", v) for v in value)
        else:  # the Store refuses nested metadata for this backend before we get here
            raise InvalidMetadataError(
                f"metadata {key!r}: the redis backend stores only strings, numbers, booleans, "
                f"null and lists of strings, got {value!r}"
            )
        out[tag_field(key)] = TAG_SEPARATOR.join(dict.fromkeys(tags))
    return out


# ------------------------------------------------------------------ filters
@dataclass(frozen=True)
class FieldSchema:
    """The metadata keys an index has fields for (keys some record was written with)."""

    keys: frozenset[str]

    @classmethod
    def of(cls, keys: Collection[str]) -> FieldSchema:
        return cls(frozenset(keys))


_Part = str | bool  # a query, or a constant: True (everything) / False (nothing)


class _Union(str):  # noqa: SLOT000 - str subtypes cannot have non-empty __slots__
    """A union's query text, knowing how many alternatives it has once RediSearch
    merges nested unions into one."""

    alternatives: int


def _alternatives(part: str) -> int:
    return part.alternatives if isinstance(part, _Union) else 1


def _union(parts: Sequence[str]) -> str:
    """``a | b | ...``, never a heap union with a negated alternative.

    RediSearch merges nested unions into one, so grouping cannot keep a union
    small. Beyond :data:`MAX_UNION` alternatives (counted after that merge), the
    negated ones (``-X``) are taken out by De Morgan: ``P1 | ... | Pm | -X1 | ...
    | -Xk`` is ``-(-(P1 | ... | Pm) X1 ... Xk)``, an intersection under one
    negation, and the union left holds positive alternatives only (which the heap
    union handles).
    """
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    negated = [p for p in parts if p.startswith("-")]
    if sum(map(_alternatives, parts)) > MAX_UNION and negated:
        positive = [p for p in parts if not p.startswith("-")]
        terms = [p[1:] for p in negated]
        if positive:
            terms.insert(0, f"-{_union(positive)}")
        return "-(" + " ".join(terms) + ")"
    out = _Union("(" + " | ".join(parts) + ")")
    out.alternatives = sum(map(_alternatives, parts))
    return out


def _tags(field: str, tags: Sequence[str]) -> str:
    return f"@{field}:{{{' | '.join(escape_tag(t) for t in tags)}}}"


def _range(field: str, low: str, high: str) -> str:
    return f"@{field}:[{low} {high}]"


def _comparison(node: Comparison, schema: FieldSchema) -> _Part:
    op, value = node.op, node.value
    if op in ("substring", "isubstring"):
        raise FilterError(
            f"the redis backend cannot express ${op} (on {node.field!r}): its index keeps "
            f"digests of metadata values, not the text; filter with $eq / $in, or use a "
            f"store that supports substring filters (sqlite, postgresql, memory)"
        )
    if op != "exists":
        for v in value if op == "in" else (value,):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                _filter_number(v)  # refused whether or not the key is indexed
    if node.field not in schema.keys:
        return False  # no record was ever written with this key
    tag, num = tag_field(node.field), numeric_field(node.field)
    if op == "exists":
        return _tags(tag, [EXISTS_TAG])
    if op in ("eq", "in"):
        values = value if op == "in" else (value,)
        if isinstance(values[0], bool):
            return _tags(tag, [_bool_tag(v) for v in values])
        if isinstance(values[0], str):
            return _tags(tag, [tag_value("s", v) for v in values])
        return _union([_range(num, n, n) for n in dict.fromkeys(_filter_number(v) for v in values)])
    if op == "contains":
        if not isinstance(value, str):
            return False  # lists hold strings only (nested metadata is off)
        return _tags(tag, [tag_value("l", value)])
    bound = _filter_number(value)
    if op == "gt":
        return _range(num, f"({bound}", "+inf")
    if op == "gte":
        return _range(num, bound, "+inf")
    if op == "lt":
        return _range(num, "-inf", f"({bound}")
    if op == "lte":
        return _range(num, "-inf", bound)
    raise FilterError(f"the redis backend cannot express the comparison {op!r}")


# Every part is one term: a field test, "-" before a term, or a parenthesized
# group. Parentheses only around groups, since each costs parser stack.
def _and(parts: list[_Part]) -> _Part:
    if any(p is False for p in parts):
        return False
    rest = [p for p in parts if p is not True]
    if not rest:
        return True
    return rest[0] if len(rest) == 1 else "(" + " ".join(rest) + ")"  # type: ignore[arg-type]


def _or(parts: list[_Part]) -> _Part:
    if any(p is True for p in parts):
        return True
    rest = [p for p in parts if p is not False]
    if not rest:
        return False
    return _union(rest)  # type: ignore[arg-type]


def _not(part: _Part) -> _Part:
    if isinstance(part, bool):
        return not part
    return f"-{part}"  # the full complement, records missing the field included


def _height(node: FilterNode) -> int:
    if isinstance(node, (And, Or)):
        return 1 + max(_height(c) for c in node.children)
    return 0


def _translate(node: FilterNode, schema: FieldSchema) -> _Part:
    if isinstance(node, Comparison):
        return _comparison(node, schema)
    if isinstance(node, Not):
        return _not(_translate(node.child, schema))
    kids = sorted(node.children, key=_height, reverse=True)  # deepest first
    parts = [_translate(c, schema) for c in kids]
    return _and(parts) if isinstance(node, And) else _or(parts)


def to_redis_query(node: FilterNode | None, schema: FieldSchema) -> str:
    """Translate a parsed filter into a Redis search query (DIALECT 2).

    Returns :data:`MATCH_ALL` or :data:`MATCH_NOTHING` when the filter is constant
    for this index (e.g. it only names keys no record has).

    Raises:
        FilterError: the filter uses numbers Redis cannot compare exactly.
    """
    if node is None:
        return MATCH_ALL
    part = _translate(simplify(node), schema)
    if part is True:
        return MATCH_ALL
    if part is False:
        return MATCH_NOTHING
    return part
