"""Chroma requests: the steps operations yield, collection names and settings. Pure, no I/O.

A :class:`Call` names one method of a chromadb client (``collection=None``) or of
one of its collections, with keyword arguments. The async client has the same
methods as coroutines, so ``connection.py`` runs a call on either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...types import CollectionInfo
from ...validation import safe_identifier

__all__ = [
    "LAYOUT",
    "Call",
    "call",
    "canonical_distance",
    "chat_collection",
    "collection_settings",
    "info_from_metadata",
    "kv_collection",
    "record_collection",
]

#: Version of the record layout (codec.py), kept in every collection made here.
LAYOUT = 1
#: Chroma's HNSW space of each metric.
SPACES = {"cosine": "cosine", "euclidean": "l2", "dot": "ip"}
#: Collection-metadata keys holding a vector collection's info.
_META = "bruno_"


@dataclass(frozen=True)
class Call:
    """One method call on the client (``collection`` is None) or on a collection.

    A ``soft`` call hands its error (already mapped to the package's errors) back
    to the operation as its reply instead of raising it.
    """

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    collection: str | None = None
    soft: bool = False


def call(method: str, collection: str | None = None, **kwargs: Any) -> Call:
    return Call(method, kwargs, collection)


def soft_call(method: str, collection: str | None = None, **kwargs: Any) -> Call:
    return Call(method, kwargs, collection, soft=True)


# ------------------------------------------------------------------ names
def record_collection(prefix: str, name: str) -> str:
    """The Chroma collection of one vector collection: readable part plus a hash of the name.

    Chroma names are 3-512 characters of ``[a-zA-Z0-9._-]`` starting and ending with
    a letter or digit; ``safe_identifier`` ends with hex digits.
    """
    return f"{prefix}_{safe_identifier(name, 'c', 96)}"


def record_collection_prefix(prefix: str) -> str:
    return f"{prefix}_c_"


def chat_collection(prefix: str) -> str:
    """The one Chroma collection holding every chat message of the store."""
    return f"{prefix}_chat"


def kv_collection(prefix: str) -> str:
    """The one Chroma collection holding every key-value item of the store."""
    return f"{prefix}_kv"


# ------------------------------------------------------------------ collections
def collection_settings(info: CollectionInfo) -> dict[str, Any]:
    """``metadata`` and ``configuration`` of a vector collection."""
    metadata: dict[str, Any] = {
        f"{_META}name": info.name,
        f"{_META}dimension": info.dimension,
        f"{_META}metric": info.metric,
        f"{_META}layout": LAYOUT,
    }
    if info.embedding_model is not None:
        metadata[f"{_META}model"] = info.embedding_model
    return {"metadata": metadata, "configuration": {"hnsw": {"space": SPACES[info.metric]}}}


def aux_settings() -> dict[str, Any]:
    """``metadata`` of the chat and key-value collections (one-number placeholder vectors)."""
    return {"metadata": {f"{_META}layout": LAYOUT, f"{_META}kind": "aux"}}


def info_from_metadata(metadata: dict[str, Any] | None) -> CollectionInfo | None:
    """A collection's info from its metadata; ``None`` if this package did not make it."""
    meta = metadata or {}
    if f"{_META}name" not in meta or f"{_META}dimension" not in meta:
        return None
    return CollectionInfo(
        str(meta[f"{_META}name"]),
        int(meta[f"{_META}dimension"]),
        str(meta.get(f"{_META}metric", "cosine")),
        meta.get(f"{_META}model"),
    )


def canonical_distance(metric: str, distance: float) -> float:
    """Chroma's distance -> the canonical distance (scores.py).

    Cosine: ``1 - cos`` already; l2: the *squared* L2 distance; ip: ``1 - a·b``.
    """
    if metric == "euclidean":
        return math.sqrt(max(distance, 0.0))
    if metric == "dot":
        return distance - 1.0
    return distance
