"""`PostgresBackend`: the I/O side of the PostgreSQL + pgvector backend.

Each method builds an op (``_ops.py``: SQL from ``_sql.py``/``_queries.py``) and
runs it in one transaction on a pooled connection, sync or async; the SQL is
the same for both. Idempotent operations are retried once on a fresh connection
when the old one died (a server restart), so callers see no error.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    NotSupportedError,
)
from ...filters import FilterNode
from ...types import CollectionInfo, Message, Page, Record
from . import _ops
from ._connections import ClientSource, OwnedPools, arun, run
from ._options import PostgresOptions, mask_url, split_url_options
from ._sql import Names

__all__ = ["PostgresBackend"]

T = TypeVar("T")
MakeOp = Callable[[], "_ops.Op[T]"]

#: Records per batch above which async upserts format their rows in a worker thread.
_FORMAT_IN_THREAD = 2000


class PostgresBackend(Backend):
    """Vector records, chat and key-value data in PostgreSQL with pgvector.

    Open it with ``open_store("postgresql://user:password@host:5432/db", **options)``
    or ``open_store(pool_or_connection, **options)``; see
    :class:`~bruno_memory_integrations.backends.postgres._options.PostgresOptions`
    for the options and docs/backends/postgres.md for the design.
    """

    name: ClassVar[str] = "postgresql"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True, hybrid_search=True, ttl=False, native_async=True
    )

    def __init__(self, source: OwnedPools | ClientSource, options: PostgresOptions) -> None:
        self._source = source
        self.options = options
        self._ctx = _ops.Context(Names(options.schema), options)
        self._ready = False
        self._ready_lock = threading.Lock()
        if not source.has_async:  # per instance: a sync client's async runs in threads
            self.capabilities = type(self).capabilities.with_(  # type: ignore[misc]
                native_async=False
            )
        # Closes the pools when the store is garbage-collected without close();
        # it references the source only, so it does not keep the backend alive.
        self._finalizer = weakref.finalize(self, source.close)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresBackend:
        """Open pools (lazily) for a ``postgresql://`` URL.

        Query parameters named like options (``?schema=app&pool_size=5``) are options;
        the others (``sslmode``, ``application_name``, ...) go to libpq.

        Raises:
            ConfigurationError: a malformed URL or a bad option.
        """
        clean, from_query = split_url_options(url)
        opts = PostgresOptions.build({**from_query, **options})
        try:
            params = conninfo_to_dict(clean)
        except psycopg.Error as exc:
            raise ConfigurationError(f"bad PostgreSQL URL {mask_url(url)!r}: {exc}") from None
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            kwargs["connect_timeout"] = max(2, round(opts.connect_timeout))
        if "application_name" not in params:
            kwargs["application_name"] = "bruno-memory-integrations"
        return cls(OwnedPools(clean, kwargs, opts, url), opts)

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> PostgresBackend:
        """Use a psycopg ``Connection``/``AsyncConnection`` or a psycopg_pool pool you own.

        The store never closes it. A sync client also serves the async methods (in
        worker threads); an async client serves the async methods only.
        """
        kinds = (psycopg.Connection, psycopg.AsyncConnection, ConnectionPool, AsyncConnectionPool)
        if not isinstance(client, kinds):
            raise ConfigurationError(
                f"from_client takes a psycopg Connection/AsyncConnection or a psycopg_pool "
                f"ConnectionPool/AsyncConnectionPool, got {type(client).__name__}"
            )
        return cls(ClientSource(client), PostgresOptions.build(options))

    def __repr__(self) -> str:
        return f"PostgresBackend({self._source.display}, schema={self.options.schema!r})"

    # ------------------------------------------------------------ running
    def _error(self, exc: psycopg.Error, lost: bool, idempotent: bool) -> BackendError:
        text = " ".join(str(exc).split())
        if lost:
            tail = "" if idempotent else "; the write may or may not have been applied"
            return BackendUnavailableError(
                f"lost the connection to PostgreSQL at {self._source.display}: {text}{tail}"
            )
        return BackendError(f"PostgreSQL failed ({exc.sqlstate or type(exc).__name__}): {text}")

    @staticmethod
    def _retryable(exc: psycopg.Error, lost: bool) -> bool:
        # Deadlocks and serialization failures leave nothing behind: run it again.
        return lost or isinstance(
            exc,
            (
                pg_errors.TransactionRollback,
                pg_errors.DeadlockDetected,
                pg_errors.SerializationFailure,
            ),
        )

    def _execute(self, make: MakeOp[T], idempotent: bool) -> T:
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            conn = None
            try:
                with self._source.connection() as conn:
                    return run(conn, make())
            except psycopg.Error as exc:
                lost = conn is None or conn.broken
                if attempt + 1 < attempts and self._retryable(exc, lost):
                    continue
                raise self._error(exc, lost, idempotent) from exc
            except UnicodeEncodeError as exc:
                raise InvalidInputError(f"text that cannot be encoded as UTF-8: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aexecute(self, make: MakeOp[T], idempotent: bool) -> T:
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            conn = None
            try:
                async with self._source.aconnection() as conn:
                    return await arun(conn, make())
            except psycopg.Error as exc:
                lost = conn is None or conn.broken
                if attempt + 1 < attempts and self._retryable(exc, lost):
                    continue
                raise self._error(exc, lost, idempotent) from exc
            except UnicodeEncodeError as exc:
                raise InvalidInputError(f"text that cannot be encoded as UTF-8: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, make: MakeOp[T], idempotent: bool = True) -> T:
        if not self._source.has_sync:
            raise NotSupportedError(
                self.name,
                "sync calls on an async client",
                "use the a… methods, or pass a sync connection/pool or a URL",
            )
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self._execute(lambda: _ops.init_schema(self._ctx), True)
                    self._ready = True
        return self._execute(make, idempotent)

    async def _arun(self, make: MakeOp[T], idempotent: bool = True) -> T:
        if not self._source.has_async:  # a sync client: run the sync path in a thread
            return await self._in_thread(self._run, make, idempotent)
        if not self._ready:
            await self._aexecute(lambda: _ops.init_schema(self._ctx), True)
            self._ready = True
        return await self._aexecute(make, idempotent)

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> None:
        self._ctx.specs[info.name] = self._run(lambda: _ops.create_collection(self._ctx, info))

    async def acreate_collection(self, info: CollectionInfo) -> None:
        self._ctx.specs[info.name] = await self._arun(
            lambda: _ops.create_collection(self._ctx, info)
        )

    def get_collection(self, name: str) -> CollectionInfo | None:
        return self._run(lambda: _ops.get_collection(self._ctx, name))

    async def aget_collection(self, name: str) -> CollectionInfo | None:
        return await self._arun(lambda: _ops.get_collection(self._ctx, name))

    def list_collections(self) -> list[str]:
        return self._run(lambda: _ops.list_collections(self._ctx))

    async def alist_collections(self) -> list[str]:
        return await self._arun(lambda: _ops.list_collections(self._ctx))

    def drop_collection(self, name: str) -> None:
        self._run(lambda: _ops.drop_collection(self._ctx, name))
        self._ctx.specs.pop(name, None)

    async def adrop_collection(self, name: str) -> None:
        await self._arun(lambda: _ops.drop_collection(self._ctx, name))
        self._ctx.specs.pop(name, None)

    # ------------------------------------------------------------ records
    def upsert(self, collection: str, records: Sequence[Record], ttl: float | None = None) -> None:
        self._no_ttl(ttl)
        rows = _ops.prepare_rows(records, self._binary(records))
        self._run(lambda: _ops.upsert(self._ctx, collection, rows))

    async def aupsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> None:
        self._no_ttl(ttl)
        binary = self._binary(records)
        if len(records) >= _FORMAT_IN_THREAD:  # formatting big batches is CPU work
            rows = await asyncio.to_thread(_ops.prepare_rows, records, binary)
        else:
            rows = _ops.prepare_rows(records, binary)
        await self._arun(lambda: _ops.upsert(self._ctx, collection, rows))

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        return self._run(lambda: _ops.get(self._ctx, collection, ids, include_vectors))

    async def aget(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        return await self._arun(lambda: _ops.get(self._ctx, collection, ids, include_vectors))

    def delete(self, collection: str, ids: Sequence[str]) -> int:
        return self._run(lambda: _ops.delete(self._ctx, collection, ids))

    async def adelete(self, collection: str, ids: Sequence[str]) -> int:
        return await self._arun(lambda: _ops.delete(self._ctx, collection, ids))

    def delete_where(self, collection: str, where: FilterNode | None) -> int:
        return self._run(lambda: _ops.delete_where(self._ctx, collection, where))

    async def adelete_where(self, collection: str, where: FilterNode | None) -> int:
        return await self._arun(lambda: _ops.delete_where(self._ctx, collection, where))

    def count(self, collection: str, where: FilterNode | None = None) -> int:
        return self._run(lambda: _ops.count(self._ctx, collection, where))

    async def acount(self, collection: str, where: FilterNode | None = None) -> int:
        return await self._arun(lambda: _ops.count(self._ctx, collection, where))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        return self._run(
            lambda: _ops.scan(self._ctx, collection, where, limit, cursor, include_vectors)
        )

    async def ascan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        return await self._arun(
            lambda: _ops.scan(self._ctx, collection, where, limit, cursor, include_vectors)
        )

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        return self._run(
            lambda: _ops.search(self._ctx, collection, vector, k, where, include_vectors)
        )

    async def asearch(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        return await self._arun(
            lambda: _ops.search(self._ctx, collection, vector, k, where, include_vectors)
        )

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        return self._run(lambda: _ops.keyword_search(self._ctx, collection, query, k, where))

    async def akeyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        return await self._arun(lambda: _ops.keyword_search(self._ctx, collection, query, k, where))

    # ------------------------------------------------------------ chat
    # Appends are not retried after a lost connection: the first try may have committed.
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        self._no_ttl(ttl)
        self._run(lambda: _ops.append_messages(self._ctx, namespace, session_id, messages), False)

    async def aappend_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        self._no_ttl(ttl)
        await self._arun(
            lambda: _ops.append_messages(self._ctx, namespace, session_id, messages), False
        )

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        return self._run(lambda: _ops.get_messages(self._ctx, namespace, session_id, last_n))

    async def aget_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        return await self._arun(lambda: _ops.get_messages(self._ctx, namespace, session_id, last_n))

    def clear_messages(self, namespace: str, session_id: str) -> None:
        self._run(lambda: _ops.clear_messages(self._ctx, namespace, session_id))

    async def aclear_messages(self, namespace: str, session_id: str) -> None:
        await self._arun(lambda: _ops.clear_messages(self._ctx, namespace, session_id))

    def list_sessions(self, namespace: str) -> list[str]:
        return self._run(lambda: _ops.list_sessions(self._ctx, namespace))

    async def alist_sessions(self, namespace: str) -> list[str]:
        return await self._arun(lambda: _ops.list_sessions(self._ctx, namespace))

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        self._no_ttl(ttl)
        self._run(lambda: _ops.kv_put(self._ctx, collection, items))

    async def akv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        self._no_ttl(ttl)
        await self._arun(lambda: _ops.kv_put(self._ctx, collection, items))

    def kv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return self._run(lambda: _ops.kv_get(self._ctx, collection, keys))

    async def akv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return await self._arun(lambda: _ops.kv_get(self._ctx, collection, keys))

    def kv_delete(self, collection: str, keys: Sequence[str]) -> None:
        self._run(lambda: _ops.kv_delete(self._ctx, collection, keys))

    async def akv_delete(self, collection: str, keys: Sequence[str]) -> None:
        await self._arun(lambda: _ops.kv_delete(self._ctx, collection, keys))

    def kv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        return self._run(lambda: _ops.kv_keys(self._ctx, collection, prefix))

    async def akv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        return await self._arun(lambda: _ops.kv_keys(self._ctx, collection, prefix))

    # ------------------------------------------------------------ lifecycle
    def _binary(self, records: Sequence[Record]) -> bool:
        """Whether a batch goes by binary COPY (see ``_ops.upsert``)."""
        return len(records) >= self.options.copy_threshold

    def _no_ttl(self, ttl: float | None) -> None:
        if ttl is not None:  # the Store refuses ttl= already; direct callers get the same answer
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")

    def close(self) -> None:
        """Close the pools this backend opened (a client passed in stays open)."""
        self._finalizer()
        self._shutdown_executor()

    async def aclose(self) -> None:
        await self._source.aclose()
        self._finalizer.detach()
        self._shutdown_executor()
