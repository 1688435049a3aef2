"""Milvus backend (``milvus://host:19530``, ``milvuss://``, Milvus Lite ``milvus:///file.db``).

Vector records in one Milvus collection per (dimension, metric) shared by every
collection of the store (a collection field keeps them apart), metadata filters as
escaped boolean expressions over generated JSON fields (exact, or refused),
keyword search over stored word lists, chat messages and key-value items in one
auxiliary collection, native async with ``AsyncMilvusClient`` on a server. See
docs/backends/milvus.md.
"""

from .backend import MilvusBackend

__all__ = ["MilvusBackend"]
