"""Plain data types shared by the core, the backends and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Metric = Literal["cosine", "euclidean", "dot"]
METRICS: tuple[str, ...] = ("cosine", "euclidean", "dot")
#: Other spellings users bring from other stores, mapped to ours.
METRIC_ALIASES: dict[str, str] = {
    "cosine": "cosine",
    "cos": "cosine",
    "euclidean": "euclidean",
    "l2": "euclidean",
    "euclid": "euclidean",
    "dot": "dot",
    "ip": "dot",
    "inner_product": "dot",
    "dot_product": "dot",
}

JSON = Any
Message = dict[str, Any]
"""A chat message as a JSON object. The core stores it exactly as given."""


@dataclass
class Record:
    """One vector record.

    Attributes:
        id: Caller-given or generated id, unique within its collection.
        text: The text the vector was computed from ("" when there is none).
        vector: The embedding; ``None`` only in results fetched without vectors.
        metadata: A JSON object; see docs/filters.md for what filters can reach.
    """

    id: str
    text: str = ""
    vector: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchResult:
    """A record found by a search, with its score in [0, 1] (higher is closer).

    ``distance`` is the raw distance the score was computed from, in the
    collection's metric (see docs/architecture.md, "One score rule").
    For keyword and hybrid search ``distance`` is ``None``.
    """

    record: Record
    score: float
    distance: float | None = None


@dataclass(frozen=True)
class CollectionInfo:
    """What a vector collection was created with; checked on every write and query."""

    name: str
    dimension: int
    metric: str = "cosine"
    embedding_model: str | None = None


@dataclass
class Page:
    """One page of a scan; pass ``cursor`` back to get the next, ``None`` at the end."""

    records: list[Record]
    cursor: str | None
