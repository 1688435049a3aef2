"""The Redis backend's I/O: the backend class and the two drivers.

All logic lives in :mod:`.ops` as generators that yield batches of pipeline
calls. :meth:`RedisBackend._run` executes them with the sync ``redis.Redis``
client; :meth:`RedisBackend._arun` with a ``redis.asyncio.Redis`` client (one
per event loop, since asyncio connections belong to the loop that made them).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Sequence
from typing import Any, ClassVar, NamedTuple, TypeVar

import redis
import redis.asyncio as aioredis

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import BackendError, BackendUnavailableError, ConfigurationError
from ...filters import FilterNode
from ...sansio import adrive, drive
from ...types import CollectionInfo, Message, Page, Record
from .chat_kv import ChatKVOps
from .codec import Keyspace
from .connection import Clients, clients_for_client, clients_for_url, mask_url
from .ops import Batch, Op, RedisOps

__all__ = ["RedisBackend", "mask_url"]

T = TypeVar("T")

_OUR_OPTIONS = ("prefix", "algorithm", "hnsw_m", "ef_construction", "ef_runtime", "batch_size")


class RedisBackend(Backend):
    """Redis with the search module (Redis Stack, Redis 8): vectors, chat, key-value.

    Open with ``open_store("redis://[:password@]host:6379/0", **options)`` or
    ``open_store(redis_client)``. Options (see docs/backends/redis.md):
    ``prefix`` (root of every key, default ``"bruno"``), ``algorithm``
    (``"hnsw"`` or ``"flat"``), ``hnsw_m``, ``ef_construction``, ``ef_runtime``,
    ``batch_size`` (records per transaction), ``retries``, ``connect_timeout``,
    ``socket_timeout``, ``health_check_interval``; other keywords go to redis-py.
    """

    name: ClassVar[str] = "redis"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        ttl=True,
        native_async=True,
        nested_metadata=False,
    )

    def __init__(
        self,
        clients: Clients,
        *,
        prefix: str = "bruno",
        algorithm: str = "hnsw",
        hnsw_m: int | None = None,
        ef_construction: int | None = None,
        ef_runtime: int | None = None,
        batch_size: int = 100,
    ) -> None:
        algorithm = str(algorithm).lower()
        self._check_options(
            prefix=prefix,
            algorithm=algorithm,
            hnsw_m=hnsw_m,
            ef_construction=ef_construction,
            ef_runtime=ef_runtime,
            batch_size=batch_size,
        )
        self._clients = clients
        self._client = clients.sync
        # One async client per event loop (asyncio connections belong to the loop that
        # made them), with the guard that closes it when the loop shuts down.
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._description = clients.description
        keyspace = Keyspace(prefix)
        self._ops = RedisOps(keyspace, algorithm, hnsw_m, ef_construction, ef_runtime, batch_size)
        self._chat = ChatKVOps(keyspace)

    def __repr__(self) -> str:
        return f"RedisBackend({self._description!r})"

    @staticmethod
    def _check_options(**options: Any) -> None:
        """Refuse bad options before any connection is made."""
        algorithm = str(options.get("algorithm", "hnsw")).lower()
        if algorithm not in ("hnsw", "flat"):
            raise ConfigurationError(f"algorithm must be 'hnsw' or 'flat', got {algorithm!r}")
        prefix = options.get("prefix", "bruno")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"prefix must be a non-empty string, got {prefix!r}")
        for name in ("batch_size", "hnsw_m", "ef_construction", "ef_runtime"):
            value = options.get(name)
            if value is None and name != "batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def _split(cls, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        ours = {k: options.pop(k) for k in _OUR_OPTIONS if k in options}
        cls._check_options(**{"batch_size": 100, **ours})
        return ours, options

    @classmethod
    def from_url(cls, url: str, *, retries: int = 6, **options: Any) -> RedisBackend:
        """Connect to ``redis://`` / ``rediss://`` / ``unix://`` and check the server.

        Raises:
            BackendUnavailableError: the server does not answer (URL shown masked).
            ConfigurationError: a bad option, or the server has no search module.
        """
        ours, rest = cls._split(dict(options))
        return cls(clients_for_url(url, retries, rest), **ours)

    @classmethod
    def from_client(cls, client: Any, *, retries: int = 6, **options: Any) -> RedisBackend:
        """Use a ``redis.Redis`` or ``redis.asyncio.Redis`` client you already have.

        The backend never closes your client. One made with
        ``decode_responses=True`` is not used directly (the backend reads binary
        vectors): a sibling with the same connection settings is made instead.
        """
        ours, rest = cls._split(dict(options))
        if rest:
            raise ConfigurationError(
                f"unknown options for a Redis client: {sorted(rest)} (connection settings "
                f"come from the client)"
            )
        return cls(clients_for_client(client, retries), **ours)

    # ------------------------------------------------------------ drivers
    def _fail(self, exc: BaseException) -> BaseException:
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return BackendUnavailableError(f"Redis at {self._description} is unreachable: {exc}")
        if isinstance(exc, redis.RedisError):
            return BackendError(f"Redis at {self._description} failed: {exc}")
        return exc

    def _run(self, op: Op[T]) -> T:
        return drive(op, self._execute)

    def _execute(self, batch: Batch) -> list[Any]:
        pipe = self._client.pipeline(transaction=batch.transaction)
        for c in batch.calls:
            getattr(pipe, c.method)(*c.args, **c.kwargs)
        try:
            return pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from exc
        finally:
            pipe.reset()

    async def _aclient(self) -> aioredis.Redis:
        if self._clients.shared_async is not None:
            return self._clients.shared_async
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(loop)
        if entry is None:
            # No await between the lookup and the insert: no other task can interleave.
            client = self._clients.make_async()
            guard = _loop_guard(client)
            entry = self._aclients[loop] = _LoopClient(client, guard)
            await guard.__anext__()
        return entry.client

    async def _arun(self, op: Op[T]) -> T:
        client = await self._aclient()

        async def execute(batch: Batch) -> list[Any]:
            pipe = client.pipeline(transaction=batch.transaction)
            for c in batch.calls:
                getattr(pipe, c.method)(*c.args, **c.kwargs)
            try:
                return await pipe.execute(raise_on_error=False)
            except (redis.RedisError, OSError) as exc:
                raise self._fail(exc) from exc
            finally:
                await pipe.reset()

        return await adrive(op, execute)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._clients.owns_sync:
            self._client.close()
            self._client.connection_pool.disconnect()
        entries, self._aclients = list(self._aclients.items()), weakref.WeakKeyDictionary()
        for loop, entry in entries:
            # An asyncio client can only be closed on its own loop; a loop that has
            # already shut down closed it through the guard.
            if loop.is_closed():
                continue
            coro = entry.guard.aclose()
            try:
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(coro, loop)
                else:
                    loop.run_until_complete(coro)
            except RuntimeError:  # pragma: no cover - the loop closed meanwhile
                coro.close()
        super().close()

    async def aclose(self) -> None:
        entry = self._aclients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.guard.aclose()
        await asyncio.to_thread(self.close)

    # ------------------------------------------------------------ sync API
    def create_collection(self, info: CollectionInfo) -> None:
        self._run(self._ops.create_collection(info))

    def get_collection(self, name: str) -> CollectionInfo | None:
        return self._run(self._ops.get_collection(name))

    def list_collections(self) -> list[str]:
        return self._run(self._ops.list_collections())

    def drop_collection(self, name: str) -> None:
        self._run(self._ops.drop_collection(name))

    def upsert(self, collection: str, records: Sequence[Record], ttl: float | None = None) -> None:
        self._run(self._ops.upsert(collection, records, ttl))

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        return self._run(self._ops.get(collection, ids, include_vectors))

    def delete(self, collection: str, ids: Sequence[str]) -> int:
        return self._run(self._ops.delete(collection, ids))

    def delete_where(self, collection: str, where: FilterNode | None) -> int:
        return self._run(self._ops.delete_where(collection, where))

    def count(self, collection: str, where: FilterNode | None = None) -> int:
        return self._run(self._ops.count(collection, where))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        return self._run(self._ops.scan(collection, where, limit, cursor, include_vectors))

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        return self._run(self._ops.search(collection, vector, k, where, include_vectors))

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        return self._run(self._ops.keyword_search(collection, query, k, where))

    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        self._run(self._chat.append_messages(namespace, session_id, messages, ttl))

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        return self._run(self._chat.get_messages(namespace, session_id, last_n))

    def clear_messages(self, namespace: str, session_id: str) -> None:
        self._run(self._chat.clear_messages(namespace, session_id))

    def list_sessions(self, namespace: str) -> list[str]:
        return self._run(self._chat.list_sessions(namespace))

    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        self._run(self._chat.kv_put(collection, items, ttl))

    def kv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return self._run(self._chat.kv_get(collection, keys))

    def kv_delete(self, collection: str, keys: Sequence[str]) -> None:
        self._run(self._chat.kv_delete(collection, keys))

    def kv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        return self._run(self._chat.kv_keys(collection, prefix))

    # ------------------------------------------------------------ async API (native)
    async def acreate_collection(self, info: CollectionInfo) -> None:
        await self._arun(self._ops.create_collection(info))

    async def aget_collection(self, name: str) -> CollectionInfo | None:
        return await self._arun(self._ops.get_collection(name))

    async def alist_collections(self) -> list[str]:
        return await self._arun(self._ops.list_collections())

    async def adrop_collection(self, name: str) -> None:
        await self._arun(self._ops.drop_collection(name))

    async def aupsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> None:
        await self._arun(self._ops.upsert(collection, records, ttl))

    async def aget(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        return await self._arun(self._ops.get(collection, ids, include_vectors))

    async def adelete(self, collection: str, ids: Sequence[str]) -> int:
        return await self._arun(self._ops.delete(collection, ids))

    async def adelete_where(self, collection: str, where: FilterNode | None) -> int:
        return await self._arun(self._ops.delete_where(collection, where))

    async def acount(self, collection: str, where: FilterNode | None = None) -> int:
        return await self._arun(self._ops.count(collection, where))

    async def ascan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        return await self._arun(self._ops.scan(collection, where, limit, cursor, include_vectors))

    async def asearch(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        return await self._arun(self._ops.search(collection, vector, k, where, include_vectors))

    async def akeyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        return await self._arun(self._ops.keyword_search(collection, query, k, where))

    async def aappend_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        await self._arun(self._chat.append_messages(namespace, session_id, messages, ttl))

    async def aget_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        return await self._arun(self._chat.get_messages(namespace, session_id, last_n))

    async def aclear_messages(self, namespace: str, session_id: str) -> None:
        await self._arun(self._chat.clear_messages(namespace, session_id))

    async def alist_sessions(self, namespace: str) -> list[str]:
        return await self._arun(self._chat.list_sessions(namespace))

    async def akv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        await self._arun(self._chat.kv_put(collection, items, ttl))

    async def akv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return await self._arun(self._chat.kv_get(collection, keys))

    async def akv_delete(self, collection: str, keys: Sequence[str]) -> None:
        await self._arun(self._chat.kv_delete(collection, keys))

    async def akv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        return await self._arun(self._chat.kv_keys(collection, prefix))


class _LoopClient(NamedTuple):
    client: aioredis.Redis
    guard: AsyncGenerator[None, None]


async def _loop_guard(client: aioredis.Redis) -> AsyncGenerator[None, None]:
    """Closes ``client`` when its event loop shuts down.

    ``asyncio.run`` and ``asyncio.Runner`` close every open async generator of a
    loop before closing it (``shutdown_asyncgens``), so a client that nobody
    closed still releases its connections on the loop that owns them.
    """
    try:
        yield
    finally:
        await client.aclose(close_connection_pool=True)
