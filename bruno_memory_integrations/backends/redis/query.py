"""Redis search command text: pure functions, no I/O.

Index schemas (``FT.CREATE`` / ``FT.ALTER``), the KNN and full-text query parts,
and escaping for full-text words and ``MATCH`` globs. How metadata is indexed and
filters translated is in ``filters.py``; the reserved hash fields of a record are
named here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ...text import tokenize
from .filters import MATCH_ALL, TAG_SEPARATOR, escape, numeric_field, tag_field

__all__ = [
    "Batch",
    "Call",
    "alter_args",
    "call",
    "combine",
    "create_index_args",
    "escape_glob",
    "escape_query_term",
    "ft",
    "keyword_query",
    "knn_query",
    "ms",
    "search_tail",
    "words_of",
]

# Reserved hash fields of a record; metadata fields ("m" + hex + "t"/"n") never clash.
ID_FIELD = "id"
TEXT_FIELD = "text"
WORDS_FIELD = "kw"
META_FIELD = "meta"
VECTOR_FIELD = "vec"
SORT_FIELD = "sk"
DISTANCE_ALIAS = "__dist"

_DISTANCE = {"cosine": "COSINE", "euclidean": "L2", "dot": "IP"}


# ------------------------------------------------------------------ commands
@dataclass
class Call:
    """One redis-py pipeline method call."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs)


def ft(*args: Any) -> Call:
    """A search-module command (``FT.*``), sent as a raw command."""
    return Call("execute_command", args)


@dataclass
class Batch:
    """Calls sent in one round trip; ``transaction=True`` wraps them in MULTI/EXEC."""

    calls: list[Call]
    transaction: bool = False


def search_tail(*args: Any) -> tuple[Any, ...]:
    """``args`` plus the options every FT.SEARCH of this backend ends with."""
    # TIMEOUT 0: the server's default (500 ms, "return" policy) would silently
    # return partial results on a slow query.
    return (*args, "TIMEOUT", 0, "DIALECT", 2)


def ms(ttl: float) -> int:
    """A TTL in whole milliseconds, at least 1."""
    return max(1, math.ceil(ttl * 1000))


# ------------------------------------------------------------------ escaping
def escape_query_term(word: str) -> str:
    """Escape one full-text word so that it is read as a plain term."""
    return escape(word)


def escape_glob(text: str) -> str:
    """Escape a string for a Redis ``MATCH`` glob pattern (``* ? [ ] \\``)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


# ------------------------------------------------------------------ queries
def keyword_query(query: str) -> str | None:
    """The full-text part for "every word of ``query``", or ``None`` when it has no word."""
    words = list(dict.fromkeys(tokenize(query)))
    if not words:
        return None
    return f"@{WORDS_FIELD}:(" + " ".join(escape_query_term(w) for w in words) + ")"


def combine(*queries: str) -> str:
    """AND of queries, skipping :data:`MATCH_ALL`."""
    parts = [q for q in queries if q != MATCH_ALL]
    if not parts:
        return MATCH_ALL
    return parts[0] if len(parts) == 1 else " ".join(f"({p})" for p in parts)


#: A prefilter every record passes (each has a numeric sort key).
EVERY_RECORD = f"@{SORT_FIELD}:[-inf +inf]"


def knn_query(where: str, ef_runtime: int | None = None, exact: bool = False) -> str:
    """KNN clause over the prefilter ``where``; ``$K`` and ``$BLOB`` are bound as PARAMS.

    ``exact``: ``HYBRID_POLICY ADHOC_BF``, the distance of every record passing
    ``where`` is computed (an HNSW index is not walked); with no filter, ``where``
    becomes :data:`EVERY_RECORD`, a brute-force search of the whole collection.
    """
    if exact:
        base = f"({EVERY_RECORD if where == MATCH_ALL else where})"
        policy = " HYBRID_POLICY ADHOC_BF"
        return f"{base}=>[KNN $K @{VECTOR_FIELD} $BLOB{policy} AS {DISTANCE_ALIAS}]"
    ef = " EF_RUNTIME $EF" if ef_runtime is not None else ""
    base = "*" if where == MATCH_ALL else f"({where})"
    return f"{base}=>[KNN $K @{VECTOR_FIELD} $BLOB{ef} AS {DISTANCE_ALIAS}]"


def words_of(text: str) -> str:
    """What the full-text field stores: the text's words, lower-cased, space-separated.

    Redis tokenizes this exactly into the words of :func:`..text.tokenize` (its own
    tokenizer would keep ``a_b`` as one word and split on other characters).
    """
    return " ".join(tokenize(text))


# ------------------------------------------------------------------ schema
def create_index_args(
    index: str,
    key_prefix: str,
    dimension: int,
    metric: str,
    algorithm: str = "hnsw",
    hnsw_m: int | None = None,
    ef_construction: int | None = None,
) -> list[str | int]:
    """Arguments of ``FT.CREATE`` for a collection's index (without the command name)."""
    params: list[str | int] = [
        "TYPE",
        "FLOAT32",
        "DIM",
        dimension,
        "DISTANCE_METRIC",
        _DISTANCE[metric],
    ]
    if algorithm == "hnsw":
        if hnsw_m is not None:
            params += ["M", hnsw_m]
        if ef_construction is not None:
            params += ["EF_CONSTRUCTION", ef_construction]
    return [
        index,
        "ON",
        "HASH",
        "PREFIX",
        1,
        key_prefix,
        # No stop words: every word is searchable, as in every other backend.
        "NOOFFSETS",
        "STOPWORDS",
        0,
        "SCHEMA",
        VECTOR_FIELD,
        "VECTOR",
        algorithm.upper(),
        len(params),
        *params,
        WORDS_FIELD,
        "TEXT",
        "NOSTEM",
        SORT_FIELD,
        "NUMERIC",
        "SORTABLE",
    ]


def alter_args(index: str, key: str) -> list[str]:
    """Arguments of ``FT.ALTER`` adding the two fields of metadata key ``key``."""
    return [
        index,
        "SCHEMA",
        "ADD",
        tag_field(key),
        "TAG",
        "SEPARATOR",
        TAG_SEPARATOR,
        "CASESENSITIVE",
        numeric_field(key),
        "NUMERIC",
    ]
