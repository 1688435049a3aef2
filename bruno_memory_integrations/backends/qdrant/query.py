"""Qdrant requests: the steps operations yield, and the requests they build. Pure, no I/O.

A :class:`Call` names one method of ``QdrantClient`` and its keyword arguments;
``AsyncQdrantClient`` has the same methods, so ``connection.py`` runs a call on
either (``execute`` / ``aexecute``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdrant_client import models

from ...types import CollectionInfo
from ...validation import safe_identifier

__all__ = [
    "METADATA_KEY",
    "Call",
    "already_exists",
    "call",
    "chat_collection",
    "collection_config",
    "info_from_metadata",
    "is_missing",
    "kv_collection",
    "record_collection",
    "soft_call",
]

#: Key of the collection metadata where a vector collection's info is kept.
METADATA_KEY = "bruno"
#: Version of the point layout (codec.py), recorded in every collection made here.
LAYOUT = 1
#: Qdrant distance of each metric.
DISTANCES = {
    "cosine": models.Distance.COSINE,
    "euclidean": models.Distance.EUCLID,
    "dot": models.Distance.DOT,
}


@dataclass(frozen=True)
class Call:
    """One client method call: ``getattr(client, method)(**kwargs)``.

    A ``soft`` call hands its error (already mapped to the package's errors) back
    to the operation as its reply instead of raising it, for operations that
    expect some ("already exists", "not found").
    """

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    soft: bool = False


def call(method: str, **kwargs: Any) -> Call:
    return Call(method, kwargs)


def soft_call(method: str, **kwargs: Any) -> Call:
    return Call(method, kwargs, soft=True)


def is_missing(reply: Any) -> bool:
    """Whether a soft call's reply is a "collection not found" error."""
    text = str(reply).lower()
    return isinstance(reply, Exception) and ("not found" in text or "doesn't exist" in text)


def already_exists(reply: Any) -> bool:
    return isinstance(reply, Exception) and "already exists" in str(reply).lower()


# ------------------------------------------------------------------ names
def record_collection(prefix: str, name: str) -> str:
    """The Qdrant collection of one vector collection: readable part plus a hash of the name."""
    return f"{prefix}_{safe_identifier(name, 'c', 96)}"


def record_collection_prefix(prefix: str) -> str:
    return f"{prefix}_c_"


def chat_collection(prefix: str) -> str:
    """The one Qdrant collection holding every chat message of the store."""
    return f"{prefix}_chat"


def kv_collection(prefix: str) -> str:
    """The one Qdrant collection holding every key-value item of the store."""
    return f"{prefix}_kv"


# ------------------------------------------------------------------ collections
def collection_config(info: CollectionInfo, keyword: bool) -> dict[str, Any]:
    """Keyword arguments of ``create_collection`` for a vector collection."""
    kwargs: dict[str, Any] = {
        "vectors_config": models.VectorParams(size=info.dimension, distance=DISTANCES[info.metric]),
        "metadata": {
            METADATA_KEY: {
                "name": info.name,
                "dimension": info.dimension,
                "metric": info.metric,
                "embedding_model": info.embedding_model,
                "keyword_search": keyword,
                "layout": LAYOUT,
            }
        },
    }
    if keyword:
        from .codec import KEYWORD_VECTOR

        kwargs["sparse_vectors_config"] = {
            KEYWORD_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
        }
    return kwargs


def info_from_metadata(metadata: dict[str, Any] | None) -> tuple[CollectionInfo, bool] | None:
    """(info, has keyword search) from a collection's metadata; ``None`` if not ours."""
    ours = (metadata or {}).get(METADATA_KEY)
    if not isinstance(ours, dict) or "name" not in ours:
        return None
    info = CollectionInfo(
        str(ours["name"]), int(ours["dimension"]), str(ours["metric"]), ours.get("embedding_model")
    )
    return info, bool(ours.get("keyword_search", False))


def canonical_distance(metric: str, score: float) -> float:
    """Qdrant's score -> the canonical distance (scores.py).

    Cosine: Qdrant returns the cosine similarity; Euclid: the L2 distance;
    Dot: the dot product (higher is closer).
    """
    if metric == "cosine":
        return 1.0 - score
    if metric == "dot":
        return -score
    return score


def search_params(exact: bool, hnsw_ef: int | None) -> models.SearchParams | None:
    if not exact and hnsw_ef is None:
        return None
    return models.SearchParams(exact=exact, hnsw_ef=hnsw_ef)


def match(path: str, value: Any) -> models.FieldCondition:
    """``path`` equals a keyword, integer or boolean ``value`` (internal fields only)."""
    return models.FieldCondition(key=path, match=models.MatchValue(value=value))
