"""LangChain ``ByteStore`` (``BaseStore[str, bytes]``) over a :class:`~.Store`.

Use it wherever LangChain takes a ``ByteStore``: ``CacheBackedEmbeddings``
(an embedding cache shared by processes), ``MultiVectorRetriever`` parents, ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.stores import BaseStore

from ..adapters_common import StoreOwner
from ..store import Store
from ..validation import check_name

__all__ = ["BrunoByteStore"]

DEFAULT_STORE = "sqlite:///bruno_memory.db"


class BrunoByteStore(StoreOwner, BaseStore[str, bytes]):
    """``key -> bytes`` items in one key-value collection of any backend.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a
            driver client (see :func:`~bruno_memory_integrations.open_store`).
        collection: The key-value collection; stores sharing it see the same items.
        ttl: Seconds after which each written item expires (backends with TTL only).

    Example:
        >>> kv = BrunoByteStore(store="memory://")
        >>> kv.mset([("a", b"1")])
        >>> kv.mget(["a", "b"])
        [b'1', None]
    """

    def __init__(
        self,
        store: Store | str | Any = DEFAULT_STORE,
        collection: str = "langchain_kv",
        ttl: float | None = None,
        *,
        tenant: str | None = None,
    ) -> None:
        self._attach_store(store, tenant=tenant)
        self.collection = check_name(collection, "key-value collection")
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"BrunoByteStore(store={self.store!r}, collection={self.collection!r})"

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys``, in order; ``None`` where a key is missing."""
        return self.store.kv_mget(self.collection, list(keys))

    async def amget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Async :meth:`mget`."""
        return await self.store.akv_mget(self.collection, list(keys))

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Set many items in one write; a repeated key keeps its last value."""
        self.store.kv_mset(self.collection, list(key_value_pairs), ttl=self.ttl)

    async def amset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Async :meth:`mset`."""
        await self.store.akv_mset(self.collection, list(key_value_pairs), ttl=self.ttl)

    def mdelete(self, keys: Sequence[str]) -> None:
        """Delete items; missing keys are ignored."""
        self.store.kv_mdelete(self.collection, list(keys))

    async def amdelete(self, keys: Sequence[str]) -> None:
        """Async :meth:`mdelete`."""
        await self.store.akv_mdelete(self.collection, list(keys))

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Keys in sorted order; only those starting with ``prefix`` when given."""
        yield from self.store.kv_keys(self.collection, prefix=prefix)

    async def ayield_keys(self, *, prefix: str | None = None) -> AsyncIterator[str]:
        """Async :meth:`yield_keys`."""
        for key in await self.store.akv_keys(self.collection, prefix=prefix):
            yield key
