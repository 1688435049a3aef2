"""`PostgresBackend`: vector records, chat and key-value data in PostgreSQL + pgvector.

Each operation is written once, as a generator of SQL statements (``query.py`` and
``schema.py`` build their text; ``filters.py`` the ``WHERE`` clauses). ``run`` and
``arun`` hand it to ``connection.py``, which runs it in one transaction on a pooled
sync or async connection; idempotent operations are retried once on a fresh
connection when the old one died (a server restart), so callers see no error.

A driver throws a statement's database error into the operation at its ``yield``.
The transaction is then aborted, so an operation that catches the error must return
(or raise) without running another statement; the driver rolls back. Lists of
statements are yielded in a ``for`` loop: ``yield from`` a list would pass the
driver's replies to the list iterator, which cannot take them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ...backend import Backend, Hit, MakeOp
from ...capabilities import Capabilities
from ...errors import BackendError, ConfigurationError, NotSupportedError
from ...filters import FilterNode
from ...sansio import Offload, Op, is_idempotent, non_idempotent
from ...types import CollectionInfo, Message, Page, Record
from ..encoding import float32_matrix, metadata_json_bytes
from . import query as q
from . import schema as _sql
from .connection import ClientSource, OwnedPools, Source, arun_op, run_op
from .filters import to_postgres_where
from .options import PostgresOptions, mask_url, split_url_options
from .schema import CollectionSpec, Names, final

__all__ = ["Context", "PostgresBackend", "prepare_rows"]

T = TypeVar("T")
Row = tuple[str, str, Any, Jsonb, str]

#: Records per batch above which rows are formatted as an Offload step (in a
#: worker thread for async callers): formatting big batches is CPU work.
_FORMAT_OFFLOAD = 2000
#: A COPY batch drops the vector index when the table holds fewer than this many
#: times its size: building the index once later costs less than inserting the
#: batch into it row by row (pgvector builds about five times faster).
_LOAD_FACTOR = 4
#: Seconds between two looks at whether another store left an index to build.
_PENDING_RECHECK = 10.0


@dataclass
class Context:
    """What operations need to know: names, options, pgvector facts, collection cache."""

    names: Names
    options: PostgresOptions
    #: pgvector's version as a tuple and its type's oid, known after :meth:`init_schema`.
    vector_version: tuple[int, ...] = (0,)
    vector_oid: int = 0
    #: Collections seen so far (name -> spec); refreshed by get_collection.
    specs: dict[str, CollectionSpec] = field(default_factory=dict)
    #: Collections whose vector index this store dropped for a load and not built yet.
    pending: set[str] = field(default_factory=set)
    #: When each collection's table comment was last read for a pending index.
    checked: dict[str, float] = field(default_factory=dict)

    @property
    def iterative_scans(self) -> bool:
        return self.vector_version >= (0, 8)


def _version(text: str | None) -> tuple[int, ...]:
    out = []
    for part in (text or "0").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def prepare_rows(records: Sequence[Record], binary: bool) -> list[Row]:
    """Rows in COPY / unnest column order, sorted by id.

    ``binary`` rows carry pgvector's binary vectors (for binary COPY), the others
    its text form. Sorting gives concurrent upserts of overlapping batches one lock
    order, so they cannot deadlock each other.
    """
    order = sorted(range(len(records)), key=lambda n: records[n].id.encode("utf-8"))
    ordered = [records[n] for n in order]
    if binary:
        vectors: list[Any] = _sql.vector_binaries(float32_matrix(records)[order])
    else:
        vectors = [_sql.vector_literal(r.vector or ()) for r in ordered]
    return [
        (r.id, r.text, v, Jsonb(r.metadata, metadata_json_bytes), _sql.tsvector_literal(r.text))
        for r, v in zip(ordered, vectors, strict=True)
    ]


def _record(row: Sequence[Any], include_vectors: bool) -> Record:
    vector = _sql.parse_vector(row[3]) if include_vectors else None
    return Record(row[0], row[1], vector, row[2])  # metadata read by schema.JsonbLoader


#: An append of at least this many messages refreshes the messages table's statistics.
ANALYZE_MESSAGES_AFTER = 1000


class PostgresBackend(Backend):
    """Vector records, chat and key-value data in PostgreSQL with pgvector.

    Open it with ``open_store("postgresql://user:password@host:5432/db", **options)``
    or ``open_store(pool_or_connection, **options)``; see
    :class:`~bruno_memory_integrations.backends.postgres._options.PostgresOptions`
    for the options and docs/backends/postgres.md for the design.
    """

    name: ClassVar[str] = "postgresql"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True, hybrid_search=True, ttl=True, native_async=True, kv_ranges=True
    )

    def __init__(self, source: Source, options: PostgresOptions) -> None:
        self._source = source
        self.options = options
        self._ctx = Context(Names(options.schema), options)
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
    def run(self, make: MakeOp[T]) -> T:
        """Run an operation in one transaction on a pooled connection (see ``connection.py``)."""
        if not self._source.has_sync:
            raise NotSupportedError(
                self.name,
                "sync calls on an async client",
                "use the a… methods, or pass a sync connection/pool or a URL",
            )
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    run_op(self._source, self.init_schema, True)
                    self._ready = True
        return run_op(self._source, make, is_idempotent(make))

    async def arun(self, make: MakeOp[T]) -> T:
        if not self._source.has_async:  # a sync client: run the sync path in a thread
            return await self._in_thread(self.run, make)
        if not self._ready:  # concurrent first callers may all run it: it is idempotent
            await arun_op(self._source, self.init_schema, True)
            self._ready = True
        return await arun_op(self._source, make, is_idempotent(make))

    # ------------------------------------------------------------ schema
    def init_schema(self) -> Op[None]:
        """Create what is missing, check the schema version, learn pgvector's version and oid."""
        ctx = self._ctx
        names = ctx.names
        ext, oid, meta = yield _sql.schema_exists(names)
        if ext and meta:
            row = yield _sql.read_version(names)
            if row is not None and row[0] == str(_sql.SCHEMA_VERSION):
                ctx.vector_version, ctx.vector_oid = _version(ext), oid
                return  # the common case: nothing to create, no lock taken
        yield _sql.ddl_lock()  # concurrent first starters queue here
        ext, oid, _ = yield _sql.schema_exists(names)
        if not ext:
            try:
                yield _sql.create_extension()
            except psycopg.Error as exc:
                raise BackendError(
                    "the pgvector extension is not installed in this database and could not be "
                    f"created ({exc.diag.message_primary or exc}); install pgvector on the server "
                    "and run CREATE EXTENSION vector as a superuser"
                ) from exc
        if names.schema != "public":
            (exists,) = yield _sql.namespace_exists(names)
            if not exists:
                yield _sql.create_schema(names)
        for step in _sql.schema_ddl(names):
            yield step
        (stored,) = yield _sql.read_version(names)
        if int(stored) > _sql.SCHEMA_VERSION:
            raise ConfigurationError(
                f"schema {names.schema!r} was written by a newer release (schema version "
                f"{stored}, this release knows {_sql.SCHEMA_VERSION}); upgrade "
                f"bruno-memory-integrations"
            )
        # Upgrades are idempotent and run under the DDL lock: from version 1 they add
        # the expiry columns; on a fresh schema they add the shared expiry indexes.
        rows = yield _sql.collection_tables(names)
        for step in _sql.upgrade_to_2(names, [r[0] for r in rows]):
            yield step
        ext, oid, _ = yield _sql.schema_exists(names)
        ctx.vector_version, ctx.vector_oid = _version(ext), oid

    # ------------------------------------------------------------ collections
    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        ctx = self._ctx
        row = yield _sql.select_collection(ctx.names, name)
        if row is None:
            ctx.specs.pop(name, None)
            return None
        spec = _sql.spec_from_row(row)
        ctx.specs[name] = spec
        return spec.info

    def _spec(self, name: str) -> Op[CollectionSpec | None]:
        ctx = self._ctx
        spec = ctx.specs.get(name)
        if spec is None:
            row = yield _sql.select_collection(ctx.names, name)
            if row is None:
                return None
            spec = ctx.specs[name] = _sql.spec_from_row(row)
        return spec

    def create_collection(self, info: CollectionInfo) -> Op[None]:
        ctx = self._ctx
        if info.dimension > _sql.MAX_DIMENSION:
            raise NotSupportedError(
                "postgresql",
                f"vectors of {info.dimension} dimensions",
                f"pgvector stores at most {_sql.MAX_DIMENSION}",
            )
        yield _sql.ddl_lock()
        row = yield _sql.select_collection(ctx.names, info.name)
        if row is not None:
            ctx.specs[info.name] = _sql.spec_from_row(row)
            return
        opts = ctx.options
        # pgvector indexes `vector` columns of up to 2000 dimensions; above, search is exact.
        index = opts.index if info.dimension <= _sql.MAX_INDEXED_DIMENSION else "none"
        spec = CollectionSpec(info, _sql.table_name(info.name), index)
        params = {
            "m": opts.hnsw_m,
            "ef_construction": opts.hnsw_ef_construction,
            "lists": opts.ivfflat_lists,
        }
        for step in _sql.collection_ddl(ctx.names, spec, params):  # noqa: UP028 (replies unused)
            yield step
        ctx.specs[info.name] = spec

    def list_collections(self) -> Op[list[str]]:
        rows = yield _sql.list_collections(self._ctx.names)
        return [r[0] for r in rows]

    def drop_collection(self, name: str) -> Op[None]:
        yield _sql.ddl_lock()
        for step in _sql.drop_collection(self._ctx.names, name):  # noqa: UP028 (replies unused)
            yield step
        self._ctx.specs.pop(name, None)

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        """Small batches: one INSERT from arrays. Others: binary COPY, then one INSERT.

        A load in pages (adapters insert 256 or 2048 at a time, migrations 500) would
        insert most rows into a growing HNSW index one by one. So a COPY batch into
        a table holding fewer than ``_LOAD_FACTOR`` times its size drops the vector
        index and leaves it *pending*: the following pages go into the table alone,
        and the first search builds the index once over every row (see
        :meth:`_build_pending`). The pending definition is kept as the table's
        comment, so any store can build it, even after this process ends.
        """
        ctx = self._ctx
        binary = len(records) >= ctx.options.copy_threshold
        if len(records) >= _FORMAT_OFFLOAD:
            rows = yield Offload(lambda: prepare_rows(records, binary))
        else:
            rows = prepare_rows(records, binary)
        names, table = ctx.names, _sql.table_name(collection)
        try:
            if not binary:  # one statement: an expired row with the same id is overwritten
                columns = [list(col) for col in zip(*rows, strict=True)]
                yield final(q.upsert_values(names, table, columns, ttl))
                return
            for step in q.stage_copy(rows, ctx.vector_oid):  # noqa: UP028 (replies unused)
                yield step
            spec = yield from self._spec(collection)
            if spec is not None and spec.index != "none":
                # Another load may be dropping this index: decide after it commits.
                yield q.load_lock(names, table)
                row = yield q.index_definition(names, spec.table + "_vec")
                if row is not None:  # None: already pending, a page of a running load
                    (existing,) = yield q.count_upto(names, table, _LOAD_FACTOR * len(rows))
                    if existing < _LOAD_FACTOR * len(rows):
                        yield q.drop_index(names, spec.table + "_vec")
                        yield q.mark_pending(names, table, row[0])
                        ctx.pending.add(collection)
            # After the load lock: a load holding it may drop this table's index, and
            # a row lock taken before waiting for it would deadlock with that load.
            yield q.purge(names, table)
            yield q.upsert_from_stage(names, table, ttl)
        except pg_errors.UndefinedTable:
            ctx.specs.pop(collection, None)
            raise BackendError(
                f"collection {collection!r} does not exist any more (dropped by another store?); "
                f"open a new store to create it again"
            ) from None

    def _build_pending(self, collection: str, spec: CollectionSpec) -> Op[None]:
        """Build the vector index a load left pending, merge the GIN indexes' pending
        lists, then ANALYZE the table.

        Runs at a search: when this store dropped the index, or every
        ``_PENDING_RECHECK`` seconds (one catalog read) in case another did.
        """
        ctx = self._ctx
        now = time.monotonic()
        if collection not in ctx.pending and now - ctx.checked.get(collection, -1e9) < (
            _PENDING_RECHECK
        ):
            return
        ctx.checked[collection] = now
        names, table = ctx.names, spec.table
        (comment,) = yield q.read_pending(names, table)
        if not (comment or "").startswith(q.PENDING_INDEX):
            ctx.pending.discard(collection)
            return
        yield q.load_lock(names, table)  # a page being written finishes first
        (comment,) = yield q.read_pending(names, table)
        definition = (comment or "")[len(q.PENDING_INDEX) :]
        if (comment or "").startswith(q.PENDING_INDEX) and definition.startswith("CREATE "):
            if (yield q.index_definition(names, table + "_vec")) is None:
                if ctx.options.index_build_memory_mb:
                    yield q.raise_build_memory(ctx.options.index_build_memory_mb)
                yield q.run_definition(definition)
            yield q.clear_pending(names, table)
            yield q.merge_gin_pending(names, table)  # filtered searches read no backlog
            yield q.analyze(names, table)  # fresh statistics for filtered plans
        ctx.pending.discard(collection)

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        ctx = self._ctx
        try:
            rows = yield q.get_records(ctx.names, _sql.table_name(collection), ids, include_vectors)
        except pg_errors.UndefinedTable:
            return []
        return [_record(r, include_vectors) for r in rows]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        ctx = self._ctx
        table = _sql.table_name(collection)
        try:
            yield q.purge(ctx.names, table)  # expired records are gone: never counted
            deleted: int = yield q.delete_ids(ctx.names, table, ids)
        except pg_errors.UndefinedTable:
            return 0
        return deleted

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        ctx = self._ctx
        clause = to_postgres_where(where)
        table = _sql.table_name(collection)
        try:
            yield q.purge(ctx.names, table)  # expired records are gone: never counted
            deleted: int = yield q.delete_where(ctx.names, table, clause)
        except pg_errors.UndefinedTable:
            return 0
        return deleted

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        ctx = self._ctx
        clause = q.live(to_postgres_where(where))
        try:
            (n,) = yield q.count(ctx.names, _sql.table_name(collection), clause)
        except pg_errors.UndefinedTable:
            return 0
        return int(n)

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        ctx = self._ctx
        clause = q.live(to_postgres_where(where))
        table = _sql.table_name(collection)
        try:
            rows = yield q.scan(ctx.names, table, clause, limit, cursor, include_vectors)
        except pg_errors.UndefinedTable:
            return Page([], None)
        page = [_record(r, include_vectors) for r in rows[:limit]]
        return Page(page, page[-1].id if len(rows) > limit else None)

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        """ANN search without a filter; exact search with one (unless the options say
        ``exact_filtered_search=False``).

        With approximate filtered search, when the index yields fewer than ``k`` rows
        the same query runs again exactly.
        An index scan with a filter can stop before ``k`` rows pass it (even iterative
        scans stop at ``hnsw.max_scan_tuples``); the exact rerun makes sure every
        matching row is found whenever fewer than ``k`` match.

        Either way a search is usually one statement, outside any transaction: the
        query vector travels in binary, and the index settings of an approximate
        search stay on the store's own pooled connection (:class:`~.schema.Settings`).
        """
        ctx = self._ctx
        clause = q.live(to_postgres_where(where))
        param = _sql.vector_param(vector)
        spec = yield from self._spec(collection)
        if spec is None:
            return []
        opts = ctx.options
        # A filtered search is exact by decision, not by the planner's guess: left to
        # itself, the planner picks the ANN index or an exact scan depending on whether
        # the table was analysed yet (or on a cached generic plan), and the index
        # returns other neighbours. The exact query's shape keeps every index out.
        approximate = spec.index != "none" and (where is None or not opts.exact_filtered_search)
        try:
            if spec.index != "none":
                yield from self._build_pending(collection, spec)
            if approximate:
                settings = q.search_settings(
                    spec, k, opts.ef_search, opts.ivfflat_probes, ctx.iterative_scans
                )
                if settings is not None:
                    yield settings
            rows = yield q.search(
                ctx.names, spec, param, k, clause, include_vectors, not approximate
            )
            if approximate and len(rows) < k:
                rows = yield q.search(ctx.names, spec, param, k, clause, include_vectors, True)
        except pg_errors.UndefinedTable:
            ctx.specs.pop(collection, None)
            return []
        # pgvector's cosine distance to a zero vector is NaN (d != d); scores.py's is 1.
        return [(_record(r, include_vectors), 1.0 if (d := r[-1]) != d else d) for r in rows]

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        ctx = self._ctx
        clause = q.live(to_postgres_where(where))
        tsquery = _sql.tsquery_literal(query)
        if tsquery is None:
            return []
        try:
            table = _sql.table_name(collection)
            rows = yield q.keyword_search(ctx.names, table, tsquery, k, clause)
        except pg_errors.UndefinedTable:
            return []
        return [(_record(r, False), float(r[-1])) for r in rows]

    # ------------------------------------------------------------ chat
    @non_idempotent  # the first try may have committed before the connection dropped
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        names = self._ctx.names
        rows = [Jsonb(m) for m in messages]
        # A session that expired starts again empty: its expired messages stay expired
        # (expire_session and append_messages only look at live ones).
        if ttl is not None:  # like Redis: the whole session expires ttl after this write
            yield q.expire_session(names, namespace, session_id, ttl)
        if len(rows) < ANALYZE_MESSAGES_AFTER:
            yield final(q.append_messages(names, namespace, session_id, rows, ttl))
            return
        yield q.append_messages(names, namespace, session_id, rows, ttl)
        # Without statistics the planner reads a whole long session and sorts it to
        # return its last N; with them it walks the session index backwards (O(N)).
        yield final(q.analyze(names, "bruno_messages"))

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        rows = yield q.get_messages(self._ctx.names, namespace, session_id, last_n)
        return [r[0] for r in rows]  # read by schema.JsonbLoader

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        yield final(q.clear_messages(self._ctx.names, namespace, session_id))

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        rows = yield q.list_sessions(self._ctx.names, namespace)
        return [r[0] for r in rows]

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        ordered = sorted(items, key=lambda kv: kv[0].encode("utf-8"))  # one lock order
        yield final(q.kv_put(self._ctx.names, collection, ordered, ttl))

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        rows = yield q.kv_get(self._ctx.names, collection, keys)
        found = {k: bytes(v) for k, v in rows}
        return [found.get(k) for k in keys]

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        yield final(q.kv_delete(self._ctx.names, collection, keys))

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        rows = yield q.kv_keys(self._ctx.names, collection, prefix)
        return [r[0] for r in rows]

    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Op[list[tuple[str, bytes]]]:
        rows = yield q.kv_scan(self._ctx.names, collection, prefix, after, limit, reverse)
        return [(k, bytes(v)) for k, v in rows]

    # ------------------------------------------------------------ expiry
    def purge_expired(self) -> Op[int]:
        """Delete expired records of every collection, messages and items, in one
        transaction (holding the DDL lock, so no collection is dropped meanwhile)."""
        names = self._ctx.names
        yield _sql.ddl_lock()
        rows = yield _sql.collection_tables(names)
        n = 0
        for (table,) in rows:
            n += yield q.purge(names, table)
        n += yield q.purge_messages(names)
        n += yield q.purge(names, "bruno_kv")
        return int(n)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the pools this backend opened (a client passed in stays open)."""
        self._finalizer()
        self._shutdown_executor()

    async def aclose(self) -> None:
        await self._source.aclose()
        self._finalizer.detach()
        self._shutdown_executor()
