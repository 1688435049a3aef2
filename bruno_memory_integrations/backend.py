"""The backend contract: the small surface a store implements.

A backend receives input the :class:`~bruno_memory_integrations.store.Store`
has already checked (ids, vectors, metadata, names, parsed filters, collection
dimension), so it only stores and fetches. Every method is batched.

Async: each ``a…`` method here runs its sync twin in the backend's own worker
thread pool, so a sync-only driver never blocks the event loop. Backends whose
driver has native async I/O (PostgreSQL, Redis) override the ``a…`` methods and
set ``capabilities.native_async``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from .capabilities import Capabilities
from .errors import NotSupportedError
from .filters import FilterNode
from .types import CollectionInfo, Message, Page, Record

__all__ = ["Backend", "Hit"]

T = TypeVar("T")

Hit = tuple[Record, float]
"""A search hit: the record and, for vector search, its canonical distance
(see :mod:`bruno_memory_integrations.scores`); for keyword search, its text
relevance (higher is better, any positive scale)."""


class Backend(ABC):
    """Abstract store. Subclasses implement the sync methods; async comes free."""

    #: Registry name, used in messages ("the redis backend does not support ...").
    name: ClassVar[str] = "backend"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Worker threads for derived async methods.
    async_workers: ClassVar[int] = 4

    _executor: ThreadPoolExecutor | None = None
    _executor_lock = threading.Lock()

    # ------------------------------------------------------------ collections
    @abstractmethod
    def create_collection(self, info: CollectionInfo) -> None:
        """Create a vector collection (a no-op if it exists with the same info)."""

    @abstractmethod
    def get_collection(self, name: str) -> CollectionInfo | None:
        """What ``name`` was created with, or ``None`` when it does not exist."""

    @abstractmethod
    def list_collections(self) -> list[str]:
        """Names of the vector collections, sorted."""

    @abstractmethod
    def drop_collection(self, name: str) -> None:
        """Delete a collection and all its records (a no-op when missing)."""

    # ---------------------------------------------------------------- records
    @abstractmethod
    def upsert(self, collection: str, records: Sequence[Record], ttl: float | None = None) -> None:
        """Insert or replace records by id. Ids are unique within the batch."""

    @abstractmethod
    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        """Records with these ids, any order; missing ids are left out."""

    @abstractmethod
    def delete(self, collection: str, ids: Sequence[str]) -> int:
        """Delete by id; returns how many existed."""

    @abstractmethod
    def delete_where(self, collection: str, where: FilterNode | None) -> int:
        """Delete every record matching ``where`` (all when ``None``); returns the count."""

    @abstractmethod
    def count(self, collection: str, where: FilterNode | None = None) -> int:
        """How many records match ``where``."""

    @abstractmethod
    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        """One page of matching records; ``cursor`` is opaque and backend-defined.

        Every record present for the whole scan appears exactly once.
        """

    @abstractmethod
    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """The ``k`` nearest records matching ``where``, nearest first, with distances."""

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        """Records whose text contains every word of ``query``, best first."""
        raise NotSupportedError(self.name, "keyword search")

    # ---------------------------------------------------------------- chat
    @abstractmethod
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        """Append messages to a session, in order."""

    @abstractmethod
    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        """A session's messages, oldest first (only the last ``last_n`` when given)."""

    @abstractmethod
    def clear_messages(self, namespace: str, session_id: str) -> None:
        """Forget a session's messages."""

    @abstractmethod
    def list_sessions(self, namespace: str) -> list[str]:
        """Sessions in a namespace that hold messages, sorted."""

    # ---------------------------------------------------------------- key-value
    @abstractmethod
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        """Set values; keys are unique within the batch."""

    @abstractmethod
    def kv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        """Values in the order of ``keys``; ``None`` for a missing key."""

    @abstractmethod
    def kv_delete(self, collection: str, keys: Sequence[str]) -> None:
        """Delete keys (missing ones are ignored)."""

    @abstractmethod
    def kv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        """Keys in a collection, sorted, optionally only those starting with ``prefix``."""

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Release connections and threads. Idempotent."""
        self._shutdown_executor()

    async def aclose(self) -> None:
        await self._in_thread(self.close)

    # ---------------------------------------------------------------- async, derived
    def _shutdown_executor(self) -> None:
        ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=False)

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        ex = self._executor
        if ex is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.async_workers, thread_name_prefix=f"bruno-{self.name}"
                    )
                ex = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(ex, functools.partial(fn, *args, **kwargs))

    async def acreate_collection(self, info: CollectionInfo) -> None:
        await self._in_thread(self.create_collection, info)

    async def aget_collection(self, name: str) -> CollectionInfo | None:
        return await self._in_thread(self.get_collection, name)

    async def alist_collections(self) -> list[str]:
        return await self._in_thread(self.list_collections)

    async def adrop_collection(self, name: str) -> None:
        await self._in_thread(self.drop_collection, name)

    async def aupsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> None:
        await self._in_thread(self.upsert, collection, records, ttl)

    async def aget(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        return await self._in_thread(self.get, collection, ids, include_vectors)

    async def adelete(self, collection: str, ids: Sequence[str]) -> int:
        return await self._in_thread(self.delete, collection, ids)

    async def adelete_where(self, collection: str, where: FilterNode | None) -> int:
        return await self._in_thread(self.delete_where, collection, where)

    async def acount(self, collection: str, where: FilterNode | None = None) -> int:
        return await self._in_thread(self.count, collection, where)

    async def ascan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        return await self._in_thread(self.scan, collection, where, limit, cursor, include_vectors)

    async def asearch(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        return await self._in_thread(self.search, collection, vector, k, where, include_vectors)

    async def akeyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        return await self._in_thread(self.keyword_search, collection, query, k, where)

    async def aappend_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        await self._in_thread(self.append_messages, namespace, session_id, messages, ttl)

    async def aget_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        return await self._in_thread(self.get_messages, namespace, session_id, last_n)

    async def aclear_messages(self, namespace: str, session_id: str) -> None:
        await self._in_thread(self.clear_messages, namespace, session_id)

    async def alist_sessions(self, namespace: str) -> list[str]:
        return await self._in_thread(self.list_sessions, namespace)

    async def akv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        await self._in_thread(self.kv_put, collection, items, ttl)

    async def akv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return await self._in_thread(self.kv_get, collection, keys)

    async def akv_delete(self, collection: str, keys: Sequence[str]) -> None:
        await self._in_thread(self.kv_delete, collection, keys)

    async def akv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        return await self._in_thread(self.kv_keys, collection, prefix)
