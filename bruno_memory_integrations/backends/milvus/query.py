"""Milvus requests: the steps operations yield, names, schemas and row layouts. Pure, no I/O.

A :class:`Call` names one method of ``MilvusClient`` and its keyword arguments;
``AsyncMilvusClient`` has the same methods, so ``connection.py`` runs a call on
either (``execute`` / ``aexecute``).

**Layout** (see docs/backends/milvus.md, "Representation"). Making a Milvus
collection costs seconds on a server (create, index, load), so a store does not
make one per collection:

* ``<prefix>_v<dim>_<metric>`` holds the vector records of every collection of
  that dimension and metric. Field ``c`` (a hash of the store's scope and the
  collection name) is in every filter. The primary key is ``c`` followed by the record id,
  so keys sort by id within a collection (scan cursors).
* ``<prefix>_aux`` holds everything without a vector of its own: the catalog of
  collections, key-value items and chat messages, one row each, with a
  two-dimensional zero vector because every Milvus collection needs one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pymilvus import DataType, MilvusClient

__all__ = [
    "AUX_DIM",
    "MAX_VARCHAR",
    "Call",
    "aux_collection",
    "aux_schema",
    "call",
    "record_collection",
    "record_schema",
    "soft_call",
]

#: Longest VARCHAR value Milvus keeps (bytes).
MAX_VARCHAR = 65535
#: Longest primary key: a 20-character collection hash and an id of up to 1024 bytes.
MAX_PK = 2048
#: Dimension of the placeholder vector of auxiliary rows.
AUX_DIM = 2
#: Milvus metric of each metric.
METRICS = {"cosine": "COSINE", "euclidean": "L2", "dot": "IP"}


@dataclass(frozen=True)
class Call:
    """One client method call: ``getattr(client, method)(**kwargs)``.

    A ``soft`` call hands its error (already mapped to the package's errors) back
    to the operation as its reply instead of raising it.
    """

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    soft: bool = False


def call(method: str, **kwargs: Any) -> Call:
    return Call(method, kwargs)


def soft_call(method: str, **kwargs: Any) -> Call:
    return Call(method, kwargs, soft=True)


#: The step that upserts rows given as columns (``Connection`` runs it).
UPSERT_COLUMNS = "upsert_columns"
#: pymilvus' keyword for a ``load_collection`` that returns before the load is done
#: (``Connection`` then makes the collection's first read wait for it).
NO_WAIT = "_async"


def upsert_columns(qname: str, rows: list[dict[str, Any]], schema: dict[str, Any]) -> Call:
    """Upsert ``rows`` sent as one column per field.

    pymilvus packs a list of row dicts value by value (about three quarters of a
    row upsert's client time, measured); columns go to the request in bulk, so
    the same rows cost a third of that. ``schema`` is ``describe_collection``'s.
    """
    types = {f["name"]: f["type"] for f in schema["fields"]}
    entities = [
        {"name": name, "type": types[name], "values": [r[name] for r in rows]} for name in rows[0]
    ]
    return Call(UPSERT_COLUMNS, {"collection_name": qname, "entities": entities, "schema": schema})


def rows_of(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a column upsert again (for clients without the column path)."""
    names = [e["name"] for e in entities]
    columns = [e["values"] for e in entities]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def digest(*parts: str) -> str:
    """20 hex digits naming ``parts`` (names never contain NUL, so the join is injective)."""
    joined = "\x00".join(parts).encode("utf-8")
    return hashlib.blake2b(joined, digest_size=10).hexdigest()


# ------------------------------------------------------------------ names
def record_collection(prefix: str, dimension: int, metric: str) -> str:
    return f"{prefix}_v{dimension}_{metric}"


def aux_collection(prefix: str) -> str:
    return f"{prefix}_aux"


# ------------------------------------------------------------------ schemas
def record_schema(dimension: int) -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_PK)
    # Not a partition key: Milvus 2.3.5 then finds no row with ``c == "..."`` (rows
    # inserted through current pymilvus land in other partitions than the query reads).
    schema.add_field("c", DataType.VARCHAR, max_length=32)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("t", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("m", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("f", DataType.JSON)
    return schema


def aux_schema() -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=4 * MAX_PK)
    schema.add_field("s", DataType.VARCHAR, max_length=1024)  # scope
    schema.add_field("kind", DataType.VARCHAR, max_length=8)
    schema.add_field("a", DataType.VARCHAR, max_length=4 * MAX_PK)  # collection / namespace
    schema.add_field("b", DataType.VARCHAR, max_length=4 * MAX_PK)  # key / session
    schema.add_field("n", DataType.INT64)  # message number / session length / part count
    schema.add_field("body", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=AUX_DIM)
    return schema


def index_params(metric: str, index: str, params: dict[str, Any]) -> Any:
    ip = MilvusClient.prepare_index_params()
    ip.add_index("v", index_type=index, metric_type=metric, params=dict(params))
    return ip


def canonical_distance(metric: str, score: float) -> float:
    """Milvus' search "distance" -> the canonical distance (scores.py).

    COSINE and IP return the similarity (higher is closer), L2 the squared distance.
    """
    if metric == "cosine":
        return 1.0 - score
    if metric == "dot":
        return -score
    return float(max(score, 0.0)) ** 0.5
