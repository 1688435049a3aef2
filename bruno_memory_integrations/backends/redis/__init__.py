"""Redis backend (``redis://``, ``rediss://``): Redis Stack / Redis 8 with search.

Vector records in a search index per collection (HNSW or FLAT), metadata filters
translated to the search query language, BM25 keyword search, chat sessions in
lists, key-value items in hashes, expiry on all three, native asyncio.
See docs/backends/redis.md.
"""

from .backend import RedisBackend

__all__ = ["RedisBackend"]
