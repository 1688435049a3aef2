"""Requests to the Weaviate client, as plain values: steps and their builders (no I/O).

A :class:`Call` names a method of the client (``collections.create``) or of one of its
collections (``data.insert_many`` on ``BrunoV_docs_…``) and its arguments. The
sync client (``WeaviateClient``) and the async one (``WeaviateAsyncClient``) have the
same method names, so one step runs on either (``connection.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    StopwordsPreset,
    Tokenization,
    VectorDistances,
)

from ...types import Record
from . import schema as s

__all__ = [
    "Call",
    "chat_class_config",
    "kv_class_config",
    "meta_property_config",
    "record_properties",
    "vector_class_config",
]

_DISTANCES = {
    "cosine": VectorDistances.COSINE,
    "dot": VectorDistances.DOT,
    "euclidean": VectorDistances.L2_SQUARED,
}
_DATA_TYPES = {
    "text": DataType.TEXT,
    "int": DataType.INT,
    "number": DataType.NUMBER,
    "boolean": DataType.BOOL,
    "text[]": DataType.TEXT_ARRAY,
    "int[]": DataType.INT_ARRAY,
    "number[]": DataType.NUMBER_ARRAY,
    "boolean[]": DataType.BOOL_ARRAY,
}


@dataclass(frozen=True)
class Call:
    """One client call: ``client[.collections.use(collection)].<path>(*args, **kwargs)``.

    Errors of the types in ``tolerate`` (ours, after mapping) are returned as the
    reply instead of raised, so the operation can act on them ("already exists").
    """

    path: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    collection: str | None = None
    tolerate: tuple[type[BaseException], ...] = ()

    def __repr__(self) -> str:  # arguments can be 20 000 vectors: keep messages short
        where = f"{self.collection}." if self.collection else ""
        return f"Call({where}{self.path})"


# ------------------------------------------------------------------ collections
def _text(name: str, *, filterable: bool, searchable: bool = False,
          tokenization: Tokenization = Tokenization.FIELD) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=tokenization,
        index_filterable=filterable,
        index_searchable=searchable,
    )


def _inverted() -> Any:
    # No stop words: a keyword search finds every word it is given, in every store.
    return Configure.inverted_index(stopwords_preset=StopwordsPreset.NONE)


def vector_class_config(name: str, info_description: str, metric: str, index: str) -> Call:
    """Create a vector collection: fixed properties, the metric, no vectorizer."""
    distance = _DISTANCES[metric]
    vector_index = (
        Configure.VectorIndex.flat(distance_metric=distance)
        if index == "flat"
        else Configure.VectorIndex.hnsw(distance_metric=distance)
    )
    properties = [
        _text(s.ID, filterable=False),
        _text(s.TEXT, filterable=False, searchable=True, tokenization=Tokenization.WORD),
        _text(s.META, filterable=False),
        Property(name=s.KEYS, data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
                 index_searchable=False),
        Property(name=s.KEY, data_type=DataType.INT, index_range_filters=True),
    ]
    return Call(
        "collections.create",
        kwargs={
            "name": name,
            "description": info_description,
            "properties": properties,
            "vector_config": Configure.Vectors.self_provided(vector_index_config=vector_index),
            "inverted_index_config": _inverted(),
        },
    )


def chat_class_config(name: str) -> Call:
    """The one collection of chat messages (and session heads); no vectors."""
    return Call(
        "collections.create",
        kwargs={
            "name": name,
            "description": json.dumps({"bruno": "chat"}),
            "properties": [
                _text("ns", filterable=True),
                _text("session", filterable=True),
                _text("kind", filterable=True),
                Property(name="seq", data_type=DataType.INT),
                Property(name="length", data_type=DataType.INT),
                _text("message", filterable=False),
                Property(name=s.KEY, data_type=DataType.INT, index_range_filters=True),
            ],
            "vector_config": Configure.Vectors.self_provided(),
            "inverted_index_config": _inverted(),
        },
    )


def kv_class_config(name: str) -> Call:
    """The one collection of key-value items; no vectors."""
    return Call(
        "collections.create",
        kwargs={
            "name": name,
            "description": json.dumps({"bruno": "kv"}),
            "properties": [
                _text("coll", filterable=True),
                _text("key", filterable=True),
                _text("value", filterable=False),
                Property(name=s.KEY, data_type=DataType.INT, index_range_filters=True),
            ],
            "vector_config": Configure.Vectors.self_provided(),
            "inverted_index_config": _inverted(),
        },
    )


def meta_property_config(key: str, kind: str) -> Property:
    """The property for values of ``kind`` of metadata key ``key``."""
    data_type = s.KINDS[kind].data_type
    extra: dict[str, Any] = {}
    if data_type.startswith("text"):
        extra = {"tokenization": Tokenization.FIELD, "index_searchable": False}
    elif data_type in ("int", "number"):
        extra = {"index_range_filters": True}
    return Property(
        name=s.meta_property(key, kind),
        description=s.property_description(key, kind),
        data_type=_DATA_TYPES[data_type],
        **extra,
    )


# ------------------------------------------------------------------ records
def record_properties(rec: Record) -> tuple[str, dict[str, Any], set[tuple[str, str]]]:
    """(object id, properties, the (key, kind) metadata properties it needs)."""
    oid = s.object_uuid("r", rec.id)
    props: dict[str, Any] = {
        s.ID: rec.id,
        s.TEXT: rec.text,
        s.META: json.dumps(rec.metadata, ensure_ascii=False, separators=(",", ":")),
        s.KEYS: [s.wrap(k) for k, v in rec.metadata.items() if v is not None],
        s.KEY: s.object_key(oid),
    }
    needed: set[tuple[str, str]] = set()
    for key, kind, value in s.metadata_properties(rec.metadata):
        props[s.meta_property(key, kind)] = (
            [float(x) for x in value] if kind == "lf" else value
        )
        needed.add((key, kind))
    return oid, props, needed


RETURN_RECORD = [s.ID, s.TEXT, s.META]


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
