"""Qdrant backend (``qdrant://``, ``qdrants://``, local mode ``qdrant:///dir``, ``qdrant://:memory:``).

Vector records in one Qdrant collection per collection, metadata filters over
generated payload fields (exact, or refused), keyword search with sparse word
vectors, chat messages and key-value items as payload-only points, native async
with ``AsyncQdrantClient``. See docs/backends/qdrant.md.
"""

from .backend import QdrantBackend

__all__ = ["QdrantBackend"]
