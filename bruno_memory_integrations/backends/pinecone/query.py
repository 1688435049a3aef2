"""The steps Pinecone operations yield: one SDK data-plane call each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call"]


@dataclass(frozen=True)
class Call:
    """``index.<method>(**kwargs)``; ``connection.py`` runs it and returns plain data.

    Replies: ``describe_index_stats`` -> ``{"dimension", "metric", "namespaces":
    {name: count}}``; ``fetch`` / ``fetch_by_metadata`` -> ``({id: (values, metadata)},
    next_token)``; ``query`` -> ``[(id, score, values, metadata)]``;
    ``list_paginated`` -> ``([ids], next_token)``; ``update`` -> matched records;
    ``upsert`` / ``delete`` -> ``None``.
    """

    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Return a refusal (a ``Refused`` error: HTTP 400/405/422...) instead of raising it.
    tolerate_refusal: bool = False
