"""`RedisBackend`: vectors, chat and key-value items in Redis with the search module.

Each operation is written once, as a generator that yields :class:`~.query.Batch`
objects (redis-py pipeline calls sent in one round trip) and receives their
replies, exceptions in place of failed commands. ``connection.py`` runs a batch on
the sync client (``execute``) or on the event loop's ``redis.asyncio`` client
(``aexecute``); the base class derives every sync and async method from that.
``filters.py`` translates filters and says how metadata is indexed, ``query.py``
builds command text, ``codec.py`` names keys and encodes records and replies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import (
    BackendError,
    ConfigurationError,
    InvalidInputError,
    InvalidMetadataError,
)
from ...filters import FilterNode, fields_of
from ...sansio import Op
from ...types import CollectionInfo, Message, Page, Record
from ..encoding import float32_blobs
from . import codec
from . import filters as f
from . import query as q
from .codec import Keyspace, b, s
from .connection import Connection, clients_for_client, clients_for_url, mask_url
from .options import (
    DEFAULT_ALGORITHM,
    DEFAULT_EF_RUNTIME,
    DEFAULT_EXACT_BELOW,
    check_options,
    split_options,
    split_url_options,
)

__all__ = ["RedisBackend", "mask_url"]

T = TypeVar("T")

#: Most records one scan page returns (a Redis reply is built in server memory).
MAX_PAGE = 5000
#: Records deleted per round of delete_where.
DELETE_PAGE = 100

# Lists live sessions in one step and forgets the ones whose list expired or was
# deleted, atomically, so a session written concurrently is never dropped.
_LIVE_SESSIONS = """
local alive = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. sid) == 1 then
    alive[#alive + 1] = sid
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return alive
"""


#: Seconds a collection's record count is trusted before FT.INFO is asked again.
_SIZE_TTL = 2.0


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class RedisBackend(Backend):
    """Redis with the search module (Redis Stack, Redis 8): vectors, chat, key-value.

    Open with ``open_store("redis://[:password@]host:6379/0", **options)`` or
    ``open_store(redis_client)``. Options (see docs/backends/redis.md):
    ``prefix`` (root of every key, default ``"bruno"``), ``algorithm``
    (index of new collections: ``"flat"``, the default, or ``"hnsw"``), ``hnsw_m``,
    ``ef_construction``, ``ef_runtime``, ``batch_size`` (records per transaction),
    ``exact_below`` (HNSW collections with fewer records are searched exactly),
    ``exact_filtered_search``, ``retries``, ``connect_timeout``,
    ``socket_timeout``, ``health_check_interval``, ``max_connections`` and
    ``pool_timeout`` (calls wait that long for a free pooled connection); other
    keywords go to redis-py.
    """

    name: ClassVar[str] = "redis"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        ttl=True,
        native_async=True,
        nested_metadata=False,
        # NUMERIC fields hold doubles; TAG fields hold digests of values, not the text.
        refused_filters=frozenset({"big-numbers", "substring"}),
    )

    def __init__(
        self,
        connection: Connection,
        *,
        prefix: str = "bruno",
        algorithm: str = DEFAULT_ALGORITHM,
        hnsw_m: int | None = None,
        ef_construction: int | None = None,
        ef_runtime: int | None = None,
        batch_size: int = 100,
        exact_below: int = DEFAULT_EXACT_BELOW,
        exact_filtered_search: bool = True,
    ) -> None:
        algorithm = str(algorithm).lower()
        check_options(
            prefix=prefix,
            algorithm=algorithm,
            hnsw_m=hnsw_m,
            ef_construction=ef_construction,
            ef_runtime=ef_runtime,
            batch_size=batch_size,
            exact_below=exact_below,
            exact_filtered_search=exact_filtered_search,
        )
        self._conn = connection
        self.ks = Keyspace(prefix)
        self.algorithm = algorithm
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_runtime = DEFAULT_EF_RUNTIME if ef_runtime is None else ef_runtime
        self.batch_size = batch_size
        self.exact_below = exact_below
        self.exact_filtered_search = exact_filtered_search
        # Records per collection (from FT.INFO), and when they were counted.
        self._sizes: dict[str, tuple[int, float]] = {}
        # Small caches shared by threads (and tasks): collection infos, the metadata
        # keys known to have index fields, and the algorithm each collection uses.
        self._lock = threading.Lock()
        self._infos: dict[str, CollectionInfo] = {}
        self._indexed: dict[str, set[str]] = {}
        self._algorithms: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RedisBackend({self._conn.description!r})"

    @classmethod
    def from_url(cls, url: str, *, retries: int = 6, **options: Any) -> RedisBackend:
        """Connect to ``redis://`` / ``rediss://`` / ``unix://`` and check the server.

        Raises:
            BackendUnavailableError: the server does not answer (URL shown masked).
            ConfigurationError: a bad option, or the server has no search module.
        """
        url, from_query = split_url_options(url)
        ours, rest = split_options({**from_query, **options})  # keywords win
        return cls(Connection(clients_for_url(url, retries, rest)), **ours)

    @classmethod
    def from_client(cls, client: Any, *, retries: int = 6, **options: Any) -> RedisBackend:
        """Use a ``redis.Redis`` or ``redis.asyncio.Redis`` client you already have.

        The backend never closes your client. One made with
        ``decode_responses=True`` is not used directly (the backend reads binary
        vectors): a sibling with the same connection settings is made instead.
        """
        ours, rest = split_options(dict(options))
        if rest:
            raise ConfigurationError(
                f"unknown options for a Redis client: {sorted(rest)} (connection settings "
                f"come from the client)"
            )
        return cls(Connection(clients_for_client(client, retries)), **ours)

    # ------------------------------------------------------------ running
    def execute(self, step: q.Batch) -> list[Any]:
        return self._conn.execute(step)

    async def aexecute(self, step: q.Batch) -> list[Any]:
        return await self._conn.aexecute(step)

    def close(self) -> None:
        self._conn.close()
        super().close()

    async def aclose(self) -> None:
        await self._conn.aclose()
        self._shutdown_executor()

    def _forget(self, name: str) -> None:
        with self._lock:
            self._infos.pop(name, None)
            self._indexed.pop(name, None)
            self._sizes.pop(name, None)

    def _size(self, name: str) -> Op[int]:
        """Records in a collection, from ``FT.INFO`` at most :data:`_SIZE_TTL` s ago."""
        with self._lock:
            known = self._sizes.get(name)
        now = time.monotonic()
        if known is not None and now - known[1] < _SIZE_TTL:
            return known[0]
        (reply,) = yield q.Batch([q.ft("FT.INFO", self.ks.index(name))])
        if isinstance(reply, BaseException):
            return 0  # no index: the search finds nothing either
        size = codec.info_num_docs(reply)
        with self._lock:
            self._sizes[name] = (size, now)
        return size

    def _known(self, name: str) -> set[str]:
        with self._lock:
            return set(self._indexed.get(name, ()))

    def _learn(self, name: str, keys: set[str]) -> None:
        with self._lock:
            self._indexed.setdefault(name, set()).update(keys)

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        args = q.create_index_args(
            self.ks.index(info.name),
            self.ks.record_prefix(info.name),
            info.dimension,
            info.metric,
            self.algorithm,
            self.hnsw_m,
            self.ef_construction,
        )
        self._forget(info.name)
        created, _ = yield q.Batch(
            [
                q.ft("FT.CREATE", *args),
                q.call(
                    "hsetnx",
                    self.ks.collections,
                    b(info.name),
                    codec.encode_info(info, self.algorithm),
                ),
            ]
        )
        if isinstance(created, BaseException) and "already exists" not in str(created):
            codec.ok(created, f"create the index of collection {info.name!r}")

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        with self._lock:
            info = self._infos.get(name)
        if info is not None:
            return info
        (raw,) = yield q.Batch([q.call("hget", self.ks.collections, b(name))])
        if codec.ok(raw, "read the collection registry") is None:
            return None
        info, algorithm = codec.decode_info(name, raw)
        with self._lock:
            self._infos[name] = info
            self._algorithms[name] = algorithm
        return info

    def list_collections(self) -> Op[list[str]]:
        (names,) = yield q.Batch([q.call("hkeys", self.ks.collections)])
        return sorted(s(n) for n in codec.ok(names, "read the collection registry"))

    def drop_collection(self, name: str) -> Op[None]:
        self._forget(name)
        dropped, _, _ = yield q.Batch(
            [
                q.ft("FT.DROPINDEX", self.ks.index(name), "DD"),
                q.call("delete", self.ks.fields(name)),
                q.call("hdel", self.ks.collections, b(name)),
            ]
        )
        self._forget(name)
        if isinstance(dropped, BaseException) and not codec.is_missing_index(dropped):
            codec.ok(dropped, f"drop collection {name!r}")

    # ------------------------------------------------------------ metadata fields
    def _ensure_fields(self, name: str, keys: set[str], force: bool = False) -> Op[None]:
        """Add index fields for metadata keys the index may not have yet.

        FT.ALTER indexes a new field for documents already stored too; adding a
        field that exists fails with "Duplicate field", which is fine (another
        writer was first). The key registry is written after the fields exist.
        """
        new = sorted(keys if force else keys - self._known(name))
        if not new:
            return
        index = self.ks.index(name)
        replies = yield q.Batch([q.ft("FT.ALTER", *q.alter_args(index, k)) for k in new])
        added = [
            k
            for k, r in zip(new, replies, strict=True)
            if not isinstance(r, BaseException) or "duplicate field" in str(r).lower()
        ]
        if added:
            # Only keys whose fields exist enter the registry, even when others failed.
            (reply,) = yield q.Batch([q.call("sadd", self.ks.fields(name), *[b(k) for k in added])])
            codec.ok(reply, "record the indexed metadata keys")
            self._learn(name, set(added))
        for reply in replies:
            if not isinstance(reply, BaseException) or "duplicate field" in str(reply).lower():
                continue
            if codec.is_missing_index(reply):
                raise BackendError(
                    f"collection {name!r} has no search index (was it dropped by another "
                    f"client?); open a new store"
                ) from reply
            if "limited to" in str(reply).lower():
                raise InvalidMetadataError(
                    f"collection {name!r} cannot index more metadata keys ({reply}); each key "
                    f"takes 2 of the 1024 index fields, so about 500 distinct keys fit: nothing "
                    f"of this batch was written"
                ) from reply
            codec.ok(reply, f"add metadata fields to collection {name!r}")

    def _filter(self, name: str, where: FilterNode | None) -> Op[str]:
        """The query for ``where``, after learning which of its keys are indexed."""
        if where is None:
            return f.MATCH_ALL
        wanted = fields_of(where)
        unknown = sorted(wanted - self._known(name))
        if unknown:
            (flags,) = yield q.Batch(
                [q.call("smismember", self.ks.fields(name), [b(k) for k in unknown])]
            )
            flags = codec.ok(flags, "read the indexed metadata keys")
            self._learn(name, {k for k, f in zip(unknown, flags, strict=True) if f})
        return f.to_redis_query(where, f.FieldSchema.of(self._known(name) & wanted))

    # ------------------------------------------------------------ records
    def upsert(
        self, name: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        yield from self._ensure_fields(name, {k for r in records for k in r.metadata})
        prefix = self.ks.record_prefix(name)
        blobs = float32_blobs(records)
        size = self.batch_size
        for chunk, chunk_blobs in zip(_chunks(records, size), _chunks(blobs, size), strict=True):
            calls: list[q.Call] = []
            for rec, blob in zip(chunk, chunk_blobs, strict=True):
                key = codec.record_key(prefix, rec.id)
                # DEL first: a replaced record must not keep fields of old metadata keys.
                fields = codec.encode_record(rec, blob)
                calls += [q.call("delete", key), q.call("hset", key, mapping=fields)]
                if ttl is not None:
                    calls.append(q.call("pexpire", key, q.ms(ttl)))
            keys = {k for r in chunk for k in r.metadata}
            if keys:
                calls.append(q.call("sadd", self.ks.fields(name), *[b(k) for k in sorted(keys)]))
            replies = yield q.Batch(calls, transaction=True)
            for reply in replies:
                codec.ok(reply, f"write records to collection {name!r}")
            if keys and replies[-1]:
                # The registry lacked keys this process thought indexed: the collection
                # was re-created elsewhere. Add the fields and write the chunk again so
                # it is indexed at once rather than by the background scan.
                yield from self._ensure_fields(name, keys, force=True)
                for reply in (yield q.Batch(calls, transaction=True)):
                    codec.ok(reply, f"write records to collection {name!r}")

    def get(
        self, name: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        fields = codec.RECORD_FIELDS + ((q.VECTOR_FIELD,) if include_vectors else ())
        replies = yield q.Batch(
            [q.call("hmget", self.ks.record(name, i), list(fields)) for i in ids]
        )
        out = []
        for reply in replies:
            values = codec.ok(reply, "read records")
            if values[0] is not None:
                out.append(
                    codec.decode_record(dict(zip(fields, values, strict=True)), include_vectors)
                )
        return out

    def delete(self, name: str, ids: Sequence[str]) -> Op[int]:
        if not ids:
            return 0
        (n,) = yield q.Batch([q.call("delete", *[self.ks.record(name, i) for i in ids])])
        return int(codec.ok(n, "delete records"))

    def count(self, name: str, where: FilterNode | None = None) -> Op[int]:
        query = yield from self._filter(name, where)
        if query == f.MATCH_NOTHING:
            return 0
        (reply,) = yield q.Batch(
            [q.ft("FT.SEARCH", self.ks.index(name), query, *q.search_tail("LIMIT", 0, 0))]
        )
        if isinstance(reply, BaseException) and codec.is_missing_index(reply):
            return 0
        return codec.parse_search(codec.ok(reply, "count records")).total

    def _rows(
        self, name: str, query: str, limit: int, cursor: str | None, fields: Sequence[str]
    ) -> Op[tuple[list[tuple[int, str, dict[str, Any]]], bool]]:
        """Up to ``limit`` matching rows after ``cursor`` in (sort key, id) order.

        Keyset pagination on the numeric sort key (a hash of the id): a record
        present for the whole scan is seen exactly once whatever else changes.
        Sort keys can collide, so rows are ordered by (sort key, id) here and a
        group of equal keys is never split between two fetches.
        """
        after: tuple[int, str] | None = None
        if cursor is not None:
            sk, sep, rid = cursor.partition(":")
            if not sep or not sk.isdigit():
                raise InvalidInputError(
                    f"not a scan cursor of the redis backend: {cursor!r}; pass the "
                    f"Page.cursor of the previous page"
                )
            after = (int(sk), rid)
        fetch = limit + 8
        ret = [q.ID_FIELD, q.SORT_FIELD, *fields]
        while True:
            lower = f.MATCH_ALL if after is None else f"@{q.SORT_FIELD}:[{after[0]} +inf]"
            (reply,) = yield q.Batch(
                [
                    q.ft(
                        "FT.SEARCH",
                        self.ks.index(name),
                        q.combine(lower, query),
                        "RETURN",
                        len(ret),
                        *ret,
                        "SORTBY",
                        q.SORT_FIELD,
                        "ASC",
                        *q.search_tail("LIMIT", 0, fetch),
                    )
                ]
            )
            if isinstance(reply, BaseException) and codec.is_missing_index(reply):
                return [], False
            parsed = codec.parse_search(codec.ok(reply, "scan records"))
            rows = sorted(
                (
                    (int(d.fields[q.SORT_FIELD]), s(d.fields[q.ID_FIELD]), d.fields)
                    for d in parsed.docs
                ),
                key=lambda r: (r[0], r[1]),
            )
            complete = parsed.total <= len(parsed.docs)
            if not complete and rows:
                rows = [r for r in rows if r[0] != rows[-1][0]]  # maybe a partial group
            if after is not None:
                rows = [r for r in rows if (r[0], r[1]) > after]
            if complete or len(rows) >= limit:
                return rows[:limit], (not complete) or len(rows) > limit
            fetch *= 2

    def scan(
        self,
        name: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        query = yield from self._filter(name, where)
        if query == f.MATCH_NOTHING:
            return Page([], None)
        fields = [q.TEXT_FIELD, q.META_FIELD] + ([q.VECTOR_FIELD] if include_vectors else [])
        rows, more = yield from self._rows(name, query, min(limit, MAX_PAGE), cursor, fields)
        records = [codec.decode_record(f, include_vectors) for _, _, f in rows]
        last = rows[-1] if rows else None
        return Page(records, f"{last[0]}:{last[1]}" if more and last else None)

    def delete_where(self, name: str, where: FilterNode | None) -> Op[int]:
        query = yield from self._filter(name, where)
        if query == f.MATCH_NOTHING:
            return 0
        total, cursor = 0, None
        while True:
            rows, more = yield from self._rows(name, query, DELETE_PAGE, cursor, [])
            if rows:
                keys = [self.ks.record(name, r[1]) for r in rows]
                (n,) = yield q.Batch([q.call("delete", *keys)])
                total += int(codec.ok(n, "delete records"))
            if not more or not rows:
                return total
            cursor = f"{rows[-1][0]}:{rows[-1][1]}"

    def search(
        self,
        name: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        info = yield from self.get_collection(name)
        if info is None:
            return []
        query = yield from self._filter(name, where)
        if query == f.MATCH_NOTHING:
            return []
        params: list[Any] = ["K", k, "BLOB", codec.vector_bytes(list(vector))]
        with self._lock:
            hnsw = self._algorithms.get(name, "hnsw") == "hnsw"
        exact = False
        if hnsw:  # a FLAT index is exact already
            if where is not None:
                exact = self.exact_filtered_search
            elif self.exact_below:
                exact = (yield from self._size(name)) < self.exact_below
        # A FLAT index refuses EF_RUNTIME; a brute-force search has no use for it.
        ef = max(self.ef_runtime, k) if hnsw and not exact else None
        if ef is not None:
            params += ["EF", ef]
        ret = [*codec.RECORD_FIELDS, q.DISTANCE_ALIAS] + (
            [q.VECTOR_FIELD] if include_vectors else []
        )
        (reply,) = yield q.Batch(
            [
                q.ft(
                    "FT.SEARCH",
                    self.ks.index(name),
                    q.knn_query(query, ef, exact),
                    "PARAMS",
                    len(params),
                    *params,
                    "SORTBY",
                    q.DISTANCE_ALIAS,
                    "ASC",
                    "RETURN",
                    len(ret),
                    *ret,
                    *q.search_tail("LIMIT", 0, k),
                )
            ]
        )
        if isinstance(reply, BaseException) and codec.is_missing_index(reply):
            return []
        hits = [
            (
                codec.decode_record(d.fields, include_vectors),
                codec.canonical_distance(info.metric, float(d.fields[q.DISTANCE_ALIAS])),
            )
            for d in codec.parse_search(codec.ok(reply, "search vectors")).docs
        ]
        hits.sort(key=lambda h: (h[1], h[0].id))
        return hits

    def keyword_search(
        self, name: str, text: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        words = q.keyword_query(text)
        if words is None:
            return []
        query = yield from self._filter(name, where)
        if query == f.MATCH_NOTHING:
            return []
        ret = codec.RECORD_FIELDS
        (reply,) = yield q.Batch(
            [
                q.ft(
                    "FT.SEARCH",
                    self.ks.index(name),
                    q.combine(words, query),
                    "WITHSCORES",
                    "SCORER",
                    "BM25",
                    "RETURN",
                    len(ret),
                    *ret,
                    *q.search_tail("LIMIT", 0, k),
                )
            ]
        )
        if isinstance(reply, BaseException) and codec.is_missing_index(reply):
            return []
        parsed = codec.parse_search(codec.ok(reply, "search text"), with_scores=True)
        hits = [(codec.decode_record(d.fields, False), d.score or 0.0) for d in parsed.docs]
        hits.sort(key=lambda h: (-h[1], h[0].id))
        return hits

    # ------------------------------------------------------------ chat
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        key = self.ks.chat(namespace, session_id)
        calls = [q.call("rpush", key, *[b(json.dumps(m, ensure_ascii=False)) for m in messages])]
        if ttl is not None:
            calls.append(
                q.call("pexpire", key, q.ms(ttl))
            )  # the session expires ttl after its last write
        calls.append(q.call("sadd", self.ks.sessions(namespace), b(session_id)))
        for reply in (yield q.Batch(calls, transaction=True)):
            codec.ok(reply, "append chat messages")

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        start = -last_n if last_n is not None else 0
        (items,) = yield q.Batch([q.call("lrange", self.ks.chat(namespace, session_id), start, -1)])
        return [json.loads(s(m)) for m in codec.ok(items, "read chat messages")]

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        for reply in (
            yield q.Batch(
                [
                    q.call("delete", self.ks.chat(namespace, session_id)),
                    q.call("srem", self.ks.sessions(namespace), b(session_id)),
                ],
                transaction=True,
            )
        ):
            codec.ok(reply, "clear chat messages")

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        (ids,) = yield q.Batch(
            [
                q.call(
                    "eval",
                    _LIVE_SESSIONS,
                    1,
                    self.ks.sessions(namespace),
                    self.ks.chat_prefix(namespace),
                )
            ]
        )
        return sorted(s(i) for i in codec.ok(ids, "list chat sessions"))

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, name: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        key = self.ks.kv(name)
        calls = [q.call("hset", key, mapping={b(k): v for k, v in items})]
        if ttl is not None:
            calls.append(q.call("hpexpire", key, q.ms(ttl), *[b(k) for k, _ in items]))
        for reply in (yield q.Batch(calls, transaction=True)):
            codec.ok(reply, "write key-value items")

    def kv_get(self, name: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        (values,) = yield q.Batch([q.call("hmget", self.ks.kv(name), [b(k) for k in keys])])
        values = codec.ok(values, "read key-value items")
        return [bytes(v) if v is not None else None for v in values]

    def kv_delete(self, name: str, keys: Sequence[str]) -> Op[None]:
        (reply,) = yield q.Batch([q.call("hdel", self.ks.kv(name), *[b(k) for k in keys])])
        codec.ok(reply, "delete key-value items")

    def kv_keys(self, name: str, prefix: str | None = None) -> Op[list[str]]:
        # MATCH narrows the scan on the server; the glob characters of the prefix are
        # escaped, and the Python check below is what decides.
        match = q.escape_glob(prefix) + "*" if prefix else None
        found: set[str] = set()
        cursor = 0
        while True:
            (reply,) = yield q.Batch(
                [
                    q.call(
                        "hscan",
                        self.ks.kv(name),
                        cursor,
                        match=b(match) if match else None,
                        count=1000,
                        no_values=True,
                    )
                ]
            )
            cursor, keys = codec.ok(reply, "list key-value keys")
            found.update(s(k) for k in keys)
            if int(cursor) == 0:
                break
        return sorted(k for k in found if prefix is None or k.startswith(prefix))
