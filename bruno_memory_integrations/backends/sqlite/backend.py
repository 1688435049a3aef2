"""`SQLiteBackend`: records, chat messages and key-value items in one SQLite file.

The embedded default store: no server, WAL mode, safe for several threads and
processes at once (see ``connection.py``), full-text keyword search with FTS5,
metadata filters evaluated in SQL (``filters.py``) and exact k-NN over float32
vectors (``knn.py``). docs/backends/sqlite.md describes URLs, options and figures.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...backend import Backend, Hit, key_range
from ...capabilities import Capabilities
from ...errors import BackendError, ConfigurationError
from ...filters import FilterNode
from ...sansio import blocking
from ...types import CollectionInfo, Message, Page, Record
from ..encoding import float32_blobs, metadata_json
from . import query as q
from .connection import (
    ConnectionSource,
    SharedMemoryDatabases,
    driver_of,
    load_driver,
    open_memory,
    parse_sqlite_url,
)
from .filters import to_sqlite_where
from .knn import CollectionRow, NumpyKnn, SearchFilter, SqliteVecKnn
from .options import SQLiteOptions, load_sqlite_vec, parse_options, sqlite_vec_available
from .schema import check_version, ensure_schema, fts_query, fts_words, read_schema_version

__all__ = ["SQLiteBackend", "sqlite_vec_available"]

log = logging.getLogger(__name__)

_SHARED_MEMORY = SharedMemoryDatabases()


class SQLiteBackend(Backend):
    """Everything in one SQLite database file (or in memory).

    Use :func:`bruno_memory_integrations.open_store` with ``sqlite:///path.db``;
    :meth:`from_url` and :meth:`from_client` list the options.
    """

    name: ClassVar[str] = "sqlite"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True, hybrid_search=True, ttl=True, native_async=False,
        nested_metadata=True, persistent=True, kv_ranges=True,
    )

    def __init__(self, source: ConnectionSource, options: SQLiteOptions, description: str) -> None:
        """Use :meth:`from_url` or :meth:`from_client`; this takes a ready connection source."""
        self._source = source
        self._description = description
        self._shared_name = options.name  # set only for a named in-memory database
        self._closed = False
        numpy_knn = NumpyKnn(cache=options.cache_vectors)
        self.knn: NumpyKnn | SqliteVecKnn = (
            SqliteVecKnn(numpy_knn) if options.knn == "sqlite-vec" else numpy_knn
        )
        # A read first, so opening an existing database never takes the write lock.
        if not self._source.run(lambda cur: check_version(read_schema_version(cur)), write=False):
            self._source.run(ensure_schema, write=True)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteBackend:
        """Open a database from a URL.

        Args:
            url: ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``,
                ``sqlite://:memory:`` (or ``sqlite:///:memory:``, ``sqlite://``).
                Options may also be given as query parameters (``?timeout=5``).
            **options: ``timeout`` (seconds to wait on a locked database, 30),
                ``knn`` (``"auto"``, ``"numpy"`` or ``"sqlite-vec"``),
                ``cache_vectors`` (keep searched collections' vectors in memory, True),
                ``synchronous`` (``"NORMAL"``; ``"FULL"`` to survive power loss),
                ``name`` (in-memory only: stores opened with the same name in this
                process share one database).

        Raises:
            ConfigurationError: a bad URL or option, or a file that cannot be opened.
            MissingDependencyError: ``knn="sqlite-vec"`` without its packages.
        """
        parsed = parse_sqlite_url(url)
        opts = parse_options({**parsed.options, **options})
        vec = opts.knn == "sqlite-vec"
        driver = load_driver(need_extensions=vec)
        if parsed.path is None:
            return cls._open_memory(driver, opts)
        if opts.name is not None:
            raise ConfigurationError("option name applies to in-memory databases only")
        path = parsed.path

        def connect() -> Any:
            try:
                conn = driver.connect(
                    path, timeout=opts.timeout, isolation_level=None, check_same_thread=False
                )
            except driver.Error as exc:
                raise ConfigurationError(f"cannot open SQLite database {path!r}: {exc}") from exc
            try:
                conn.execute(f"PRAGMA synchronous = {opts.synchronous}")  # a checked constant
                if vec:
                    load_sqlite_vec(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        source = ConnectionSource(driver, connect=connect, timeout=opts.timeout)
        try:
            mode = source.run(
                lambda cur: cur.execute("PRAGMA journal_mode = WAL").fetchone()[0], None
            )
            if str(mode).lower() != "wal":
                log.warning("SQLite database %s is in %s mode, not WAL (filesystem?)", path, mode)
            return cls(source, opts, f"sqlite:///{path}")
        except BaseException:
            source.close()
            raise

    @classmethod
    def _open_memory(cls, driver: Any, opts: SQLiteOptions) -> SQLiteBackend:
        if opts.name is not None:
            conn, lock = _SHARED_MEMORY.acquire(opts.name, driver)
            source = ConnectionSource(
                driver, shared=conn, timeout=opts.timeout, owned=False, lock=lock
            )
        else:
            conn = open_memory(driver)
            source = ConnectionSource(driver, shared=conn, timeout=opts.timeout)
        try:
            if opts.knn == "sqlite-vec":
                load_sqlite_vec(conn)
            return _InMemorySQLiteBackend(source, opts, "sqlite://:memory:")
        except BaseException:
            source.close()
            if opts.name is not None:
                _SHARED_MEMORY.release(opts.name)
            raise

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> SQLiteBackend:
        """Use an open ``sqlite3`` (or ``pysqlite3``) connection; it is never closed here.

        Calls are serialized on the connection with a lock. To use the async
        methods, make it with ``check_same_thread=False``. When the connection has
        a transaction open, writes join it (as a savepoint) and become visible when
        you commit. Options: ``timeout``, ``knn``, ``cache_vectors``.
        """
        if not hasattr(client, "execute") or not hasattr(client, "in_transaction"):
            raise ConfigurationError(f"not a SQLite connection: {type(client).__name__}")
        if getattr(client, "text_factory", str) is not str:
            raise ConfigurationError("the connection's text_factory must be str")
        for unsupported in ("synchronous", "name"):
            if unsupported in options:
                raise ConfigurationError(f"option {unsupported} does not apply to from_client")
        opts = parse_options(options)
        if opts.knn == "sqlite-vec":
            load_sqlite_vec(client)
        source = ConnectionSource(
            driver_of(client), shared=client, timeout=opts.timeout, owned=False
        )
        files = source.run(lambda cur: [r[2] for r in cur.execute("PRAGMA database_list")], None)
        if files and files[0]:
            return cls(source, opts, f"sqlite connection {files[0]}")
        return _InMemorySQLiteBackend(source, opts, "sqlite connection :memory:")

    def __repr__(self) -> str:
        return f"SQLiteBackend({self._description!r}, knn={self.knn.name!r})"

    def close(self) -> None:
        """Close every connection this backend opened (never a caller's). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._source.close()
        self.knn.clear()
        if self._shared_name is not None:
            _SHARED_MEMORY.release(self._shared_name)
        super().close()

    # ------------------------------------------------------------ helpers
    def _read(self, fn: Any) -> Any:
        return self._source.run(fn, write=False)

    def _write(self, fn: Any) -> Any:
        return self._source.run(fn, write=True)

    def _read_one(self, fn: Any) -> Any:
        """A read made of one statement: SQLite reads it from one snapshot without
        an explicit transaction, which saves a ``BEGIN`` and a ``COMMIT``."""
        return self._source.run(fn, write=None)

    @staticmethod
    def _collection(cur: Any, name: str) -> CollectionRow | None:
        row = cur.execute(q.COLLECTION_ROW, (name,)).fetchone()
        return CollectionRow(*row) if row is not None else None

    # ------------------------------------------------------------ expiry
    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        """When a write with ``ttl`` expires, in Unix seconds (wall clock: it is
        stored, and read by other processes)."""
        return None if ttl is None else time.time() + ttl

    @staticmethod
    def _live(
        cur: Any, collection: str, sql: str, params: list[Any], now: float
    ) -> tuple[str, list[Any]]:
        """A filter's SQL, narrowed to unexpired records if the collection has expired ones."""
        if cur.execute(q.ANY_EXPIRED, (collection, now)).fetchone() is None:
            return sql, params
        return f"({sql}) AND {q.LIVE}", [*params, now]

    @staticmethod
    def _purge_collection(cur: Any, cid: int, now: float) -> int:
        """Delete a collection's expired records (the trigger takes their data along)."""
        n = int(cur.execute(
            "DELETE FROM bruno_records WHERE cid = ? AND expires_at <= ?", (cid, now)
        ).rowcount)
        if n:
            cur.execute(q.BUMP_VERSION, (cid,))
        return n

    @blocking
    def purge_expired(self) -> int:
        """Delete every expired record, message and item now; returns how many."""
        now = time.time()

        def run(cur: Any) -> int:
            cids = [r[0] for r in cur.execute(
                "SELECT DISTINCT cid FROM bruno_records WHERE expires_at <= ?", (now,)
            ).fetchall()]
            n = sum(self._purge_collection(cur, cid, now) for cid in cids)
            n += cur.execute("DELETE FROM bruno_messages WHERE expires_at <= ?", (now,)).rowcount
            n += cur.execute("DELETE FROM bruno_kv WHERE expires_at <= ?", (now,)).rowcount
            return int(n)

        return int(self._write(run))

    # ------------------------------------------------------------ collections
    @blocking
    def create_collection(self, info: CollectionInfo) -> None:
        self._write(lambda cur: cur.execute(
            "INSERT OR IGNORE INTO bruno_collections (name, dimension, metric, embedding_model) "
            "VALUES (?, ?, ?, ?)",
            (info.name, info.dimension, info.metric, info.embedding_model),
        ))

    @blocking
    def get_collection(self, name: str) -> CollectionInfo | None:
        row = self._read(lambda cur: cur.execute(
            "SELECT name, dimension, metric, embedding_model FROM bruno_collections WHERE name = ?",
            (name,),
        ).fetchone())
        return CollectionInfo(*row) if row is not None else None

    @blocking
    def list_collections(self) -> list[str]:
        return self._read(lambda cur: [
            r[0] for r in cur.execute("SELECT name FROM bruno_collections ORDER BY name")
        ])

    @blocking
    def drop_collection(self, name: str) -> None:
        def run(cur: Any) -> None:
            coll = self._collection(cur, name)
            if coll is not None:
                cur.execute("DELETE FROM bruno_records WHERE cid = ?", (coll.cid,))
                cur.execute("DELETE FROM bruno_collections WHERE cid = ?", (coll.cid,))

        self._write(run)
        self.knn.forget(name)

    # ------------------------------------------------------------ records
    @blocking
    def upsert(self, collection: str, records: Sequence[Record], ttl: float | None = None) -> None:
        expires = self._expiry(ttl)
        ids = [r.id for r in records]
        # Everything but the rids is prepared before the write lock is taken; the
        # vectors are float32 already when the core's check converted the batch.
        rows = [(r.id, metadata_json(r.metadata), expires) for r in records]
        blobs = float32_blobs(records)
        data = [(r.text, blob) for r, blob in zip(records, blobs, strict=True)]
        words = [fts_words(r.text) for r in records]

        def run(cur: Any) -> None:
            coll = self._collection(cur, collection)
            if coll is None:
                raise BackendError(
                    f"collection {collection!r} does not exist (dropped by another store?); "
                    f"open a new store to create it again"
                )
            # Writes clean up what has expired (cheap: the partial index holds only
            # rows written with a TTL).
            self._purge_collection(cur, coll.cid, time.time())
            # Delete + insert (not UPDATE): a changed record gets a new rid, which is
            # what lets the vector cache refresh incrementally; the trigger cleans FTS.
            cur.execute(f"DELETE FROM bruno_records WHERE cid = ? AND id {q.IN_JSON}",
                        (coll.cid, q.json_list(ids)))
            # The rids are chosen here, above every rid AUTOINCREMENT ever gave (the
            # write lock is held), so the three tables are filled without reading
            # the rids back; SQLite raises sqlite_sequence to the largest.
            first = cur.execute(q.NEXT_RID).fetchone()[0]
            rids = range(first, first + len(rows))
            cur.executemany(
                "INSERT INTO bruno_records (rid, cid, id, metadata, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(rid, coll.cid, *row) for rid, row in zip(rids, rows, strict=True)],
            )
            cur.executemany(
                "INSERT INTO bruno_record_data (rid, text, vector) VALUES (?, ?, ?)",
                [(rid, *d) for rid, d in zip(rids, data, strict=True)],
            )
            cur.executemany(
                "INSERT INTO bruno_records_fts (rowid, words) VALUES (?, ?)",
                [(rid, w) for rid, w in zip(rids, words, strict=True) if w],
            )
            cur.execute(q.BUMP_VERSION, (coll.cid,))

        self._write(run)

    @blocking
    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        now = time.time()

        def run(cur: Any) -> list[Any]:
            live, params = self._live(cur, collection, "1", [], now)
            sql = (
                f"SELECT {q.record_columns(include_vectors)} FROM {q.RECORD_JOIN} "
                f"WHERE r.cid = {q.CID_OF} AND r.id {q.IN_JSON} AND {live}"
            )
            return cur.execute(sql, [collection, q.json_list(ids), *params]).fetchall()

        return [q.record_from_row(r, include_vectors) for r in self._read(run)]

    def _delete(self, collection: str, condition: str, params: list[Any]) -> int:
        def run(cur: Any) -> int:
            coll = self._collection(cur, collection)
            if coll is None:
                return 0
            # Expired records are gone already: purged first, they are not counted.
            self._purge_collection(cur, coll.cid, time.time())
            n = cur.execute(
                f"DELETE FROM bruno_records AS r WHERE r.cid = ? AND {condition}",
                [coll.cid, *params],
            ).rowcount
            if n:
                cur.execute(q.BUMP_VERSION, (coll.cid,))
            return int(n)

        return int(self._write(run))

    @blocking
    def delete(self, collection: str, ids: Sequence[str]) -> int:
        return self._delete(collection, f"r.id {q.IN_JSON}", [q.json_list(ids)])

    @blocking
    def delete_where(self, collection: str, where: FilterNode | None) -> int:
        sql, params = to_sqlite_where(where, "r.metadata")
        return self._delete(collection, sql, params)

    @blocking
    def count(self, collection: str, where: FilterNode | None = None) -> int:
        where_sql, where_params = to_sqlite_where(where, "r.metadata")
        now = time.time()

        def run(cur: Any) -> int:
            sql, params = self._live(cur, collection, where_sql, where_params, now)
            stmt = f"SELECT count(*) FROM bruno_records AS r WHERE r.cid = {q.CID_OF} AND {sql}"
            return int(cur.execute(stmt, [collection, *params]).fetchone()[0])

        return int(self._read(run))

    @blocking
    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        where_sql, where_params = to_sqlite_where(where, "r.metadata")
        now = time.time()

        def run(cur: Any) -> list[Any]:
            sql, params = self._live(cur, collection, where_sql, where_params, now)
            stmt = q.records_sql(include_vectors, sql, after=cursor is not None, limit=True)
            args = [collection, *([cursor] if cursor is not None else []), *params, limit + 1]
            return cur.execute(stmt, args).fetchall()

        rows = self._read(run)
        records = [q.record_from_row(r, include_vectors) for r in rows[:limit]]
        # Keyset pagination: the cursor is the last id, so concurrent writes never
        # shift a page (a record present throughout is seen exactly once).
        return Page(records, records[-1].id if len(rows) > limit else None)

    @blocking
    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        where_sql, where_params = to_sqlite_where(where, "r.metadata")
        query = np.asarray(vector, dtype=np.float64)
        cols = q.record_columns(include_vectors)
        now = time.time()

        def run(cur: Any) -> list[tuple[float, Record]]:
            coll = self._collection(cur, collection)
            if coll is None:
                return []
            sql, params = self._live(cur, collection, where_sql, where_params, now)
            rids, dists = self.knn.candidates(
                cur, coll, query, k, SearchFilter(where, sql, params, now)
            )
            if len(rids) == 0:
                return []
            by_rid = dict(zip(rids.tolist(), dists.tolist(), strict=True))
            rows = cur.execute(
                f"SELECT r.rid, {cols} FROM {q.RECORD_JOIN} WHERE r.rid {q.IN_JSON}",
                (q.json_list(list(by_rid)),),
            ).fetchall()
            return [(by_rid[r[0]], q.record_from_row(r[1:], include_vectors)) for r in rows]

        found = self._read(run)
        found.sort(key=lambda t: (t[0], t[1].id))
        return [(rec, dist) for dist, rec in found[:k]]

    @blocking
    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        match = fts_query(query)
        if match is None:
            return []
        where_sql, where_params = to_sqlite_where(where, "r.metadata")
        now = time.time()

        def run(cur: Any) -> list[Any]:
            sql, params = self._live(cur, collection, where_sql, where_params, now)
            return cur.execute(q.keyword_sql(sql), [match, collection, *params, k]).fetchall()

        rows = self._read(run)
        return [(q.record_from_row(r[:3], False), float(r[3])) for r in rows]

    # ------------------------------------------------------------ chat
    @blocking
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        bodies = [q.dumps(m) for m in messages]

        def run(cur: Any) -> None:
            now = time.time()
            # Expired messages go first (a session that expired starts again empty).
            cur.execute("DELETE FROM bruno_messages WHERE expires_at <= ?", (now,))
            # The write lock is held from BEGIN IMMEDIATE, so max(seq) cannot race.
            row = cur.execute(
                "SELECT seq, expires_at FROM bruno_messages "
                "WHERE namespace = ? AND session = ? ORDER BY seq DESC LIMIT 1",
                (namespace, session_id),
            ).fetchone()
            last, expires = (row[0], row[1]) if row is not None else (0, None)
            if ttl is not None:
                # Like Redis: the whole session expires ttl after its last write with a
                # ttl; a write without one keeps the session's expiry.
                expires = now + ttl
                cur.execute(
                    "UPDATE bruno_messages SET expires_at = ? WHERE namespace = ? AND session = ?",
                    (expires, namespace, session_id),
                )
            cur.executemany(
                "INSERT INTO bruno_messages (namespace, session, seq, message, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(namespace, session_id, last + i + 1, b, expires) for i, b in enumerate(bodies)],
            )

        self._write(run)

    @blocking
    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        sql = (
            "SELECT seq, message FROM bruno_messages WHERE namespace = ? AND session = ? "
            f"AND {q.LIVE_ROW}"
        )
        args: list[Any] = [namespace, session_id, time.time()]
        if last_n is not None:
            sql += " ORDER BY seq DESC LIMIT ?"
            args.append(last_n)
        rows = self._read(lambda cur: cur.execute(sql, args).fetchall())
        return [json.loads(body) for _, body in sorted(rows)]

    @blocking
    def clear_messages(self, namespace: str, session_id: str) -> None:
        self._write(lambda cur: cur.execute(
            "DELETE FROM bruno_messages WHERE namespace = ? AND session = ?",
            (namespace, session_id),
        ))

    @blocking
    def list_sessions(self, namespace: str) -> list[str]:
        return self._read(lambda cur: [r[0] for r in cur.execute(
            f"SELECT DISTINCT session FROM bruno_messages WHERE namespace = ? AND {q.LIVE_ROW} "
            "ORDER BY session",
            (namespace, time.time()),
        )])

    # ------------------------------------------------------------ key-value
    @blocking
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        expires = self._expiry(ttl)
        rows = [(collection, key, bytes(value), expires) for key, value in items]

        def run(cur: Any) -> None:
            cur.execute(
                "DELETE FROM bruno_kv WHERE collection = ? AND expires_at <= ?",
                (collection, time.time()),
            )
            # Like Redis: rewriting an item without a ttl makes it permanent.
            cur.executemany(
                "INSERT INTO bruno_kv (collection, key, value, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                rows,
            )

        self._write(run)

    @blocking
    def kv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        rows = self._read_one(lambda cur: cur.execute(
            f"SELECT key, value FROM bruno_kv WHERE collection = ? AND key {q.IN_JSON} "
            f"AND {q.LIVE_ROW}",
            (collection, q.json_list(keys), time.time()),
        ).fetchall())
        found = {key: bytes(value) for key, value in rows}
        return [found.get(key) for key in keys]

    @blocking
    def kv_delete(self, collection: str, keys: Sequence[str]) -> None:
        self._write(lambda cur: cur.execute(
            f"DELETE FROM bruno_kv WHERE collection = ? AND key {q.IN_JSON}",
            (collection, q.json_list(keys)),
        ))

    @blocking
    def kv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        sql, args = self._kv_range_sql("key", collection, prefix, None, False)
        return self._read_one(lambda cur: [r[0] for r in cur.execute(sql, args)])

    @staticmethod
    def _kv_range_sql(
        columns: str, collection: str, prefix: str | None, after: str | None, reverse: bool
    ) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the live items in range, ordered (no LIMIT yet)."""
        args: list[Any] = [collection, time.time()]
        if prefix:
            args += [len(prefix), prefix]
        low, high = key_range(prefix, after, reverse)
        if low is not None:
            args.append(low[1])
        if high is not None:
            args.append(high[1])
        sql = _range_sql(
            columns, bool(prefix), low[0] if low else None, high[0] if high else None, reverse
        )
        return sql, args

    @blocking
    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        sql, args = self._kv_range_sql("key, value", collection, prefix, after, reverse)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self._read_one(
            lambda cur: [(k, bytes(v)) for k, v in cur.execute(sql, args)]
        )


@functools.lru_cache(maxsize=64)
def _range_sql(
    columns: str, prefix: bool, low: str | None, high: str | None, reverse: bool
) -> str:
    """The statement of a key range read of this shape (built once per shape: it
    runs on every range read, for a checkpointer on every step)."""
    sql = f"SELECT {columns} FROM bruno_kv WHERE collection = ? AND {q.LIVE_ROW}"
    if prefix:
        sql += " AND substr(key, 1, ?) = ?"
    for op in (low, high):
        if op:
            sql += f" AND key {op} ?"
    return sql + (" ORDER BY key DESC" if reverse else " ORDER BY key")


class _InMemorySQLiteBackend(SQLiteBackend):
    """An in-memory SQLite database: the same backend, but its data ends with it."""

    capabilities: ClassVar[Capabilities] = SQLiteBackend.capabilities.with_(persistent=False)
