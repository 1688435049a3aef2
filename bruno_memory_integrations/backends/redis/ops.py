"""The Redis backend's collection and record operations, written once, with no I/O.

Each operation (here and in :mod:`.chat_kv`) is a generator: it yields a
:class:`Batch` of redis-py pipeline calls, receives the list of replies (exceptions
in place of failed commands) and finally returns its result.
:class:`~.backend.RedisBackend` drives the same generator with the sync client or
awaits it with ``redis.asyncio``, so the sync and async paths share all query
building and reply handling. A batch is one round trip; ``transaction=True`` wraps
it in MULTI/EXEC.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ...errors import BackendError, FilterError, InvalidMetadataError
from ...filters import FilterNode, fields_of
from ...types import CollectionInfo, Page, Record
from . import codec
from . import query as q
from .codec import Keyspace, b, s

__all__ = ["Batch", "Call", "Op", "RedisOps", "call", "ms", "ok"]

T = TypeVar("T")

#: Most records one scan page returns (a Redis reply is built in server memory).
MAX_PAGE = 5000
#: Records deleted per round of delete_where.
DELETE_PAGE = 100


@dataclass
class Call:
    """One redis-py pipeline method call."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs)


def ft(*args: Any) -> Call:
    return Call("execute_command", args)


@dataclass
class Batch:
    """Calls sent in one round trip."""

    calls: list[Call]
    transaction: bool = False


Op = Generator[Batch, list[Any], T]


def is_missing_index(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no such index" in text or "unknown index name" in text


def ok(reply: Any, what: str) -> Any:
    """The reply, or a :class:`BackendError` when Redis refused the command."""
    if isinstance(reply, BaseException):
        raise BackendError(f"Redis refused to {what}: {reply}") from reply
    return reply


def ms(ttl: float) -> int:
    """A TTL in whole milliseconds, at least 1."""
    return max(1, math.ceil(ttl * 1000))


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _search_tail(*args: Any) -> tuple[Any, ...]:
    # TIMEOUT 0: the server's default (500 ms, "return" policy) would silently
    # return partial results on a slow query.
    return (*args, "TIMEOUT", 0, "DIALECT", 2)


class RedisOps:
    """The operations, with the small caches they share (thread-safe).

    Args:
        keyspace: Key naming.
        algorithm: ``"hnsw"`` or ``"flat"`` for new indexes.
        hnsw_m, ef_construction, ef_runtime: HNSW tuning (server defaults when None).
        batch_size: Records per MULTI/EXEC transaction in an upsert.
    """

    def __init__(
        self,
        keyspace: Keyspace,
        algorithm: str = "hnsw",
        hnsw_m: int | None = None,
        ef_construction: int | None = None,
        ef_runtime: int | None = None,
        batch_size: int = 100,
    ) -> None:
        self.ks = keyspace
        self.algorithm = algorithm
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_runtime = ef_runtime
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._infos: dict[str, CollectionInfo] = {}
        self._indexed: dict[str, set[str]] = {}  # metadata keys known to have fields
        self._algorithms: dict[str, str] = {}  # what each collection was created with

    def _forget(self, name: str) -> None:
        with self._lock:
            self._infos.pop(name, None)
            self._indexed.pop(name, None)

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
        created, _ = yield Batch(
            [
                ft("FT.CREATE", *args),
                call(
                    "hsetnx",
                    self.ks.collections,
                    b(info.name),
                    codec.encode_info(info, self.algorithm),
                ),
            ]
        )
        if isinstance(created, BaseException) and "already exists" not in str(created):
            ok(created, f"create the index of collection {info.name!r}")

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        with self._lock:
            info = self._infos.get(name)
        if info is not None:
            return info
        (raw,) = yield Batch([call("hget", self.ks.collections, b(name))])
        if ok(raw, "read the collection registry") is None:
            return None
        info, algorithm = codec.decode_info(name, raw)
        with self._lock:
            self._infos[name] = info
            self._algorithms[name] = algorithm
        return info

    def list_collections(self) -> Op[list[str]]:
        (names,) = yield Batch([call("hkeys", self.ks.collections)])
        return sorted(s(n) for n in ok(names, "read the collection registry"))

    def drop_collection(self, name: str) -> Op[None]:
        self._forget(name)
        dropped, _, _ = yield Batch(
            [
                ft("FT.DROPINDEX", self.ks.index(name), "DD"),
                call("delete", self.ks.fields(name)),
                call("hdel", self.ks.collections, b(name)),
            ]
        )
        self._forget(name)
        if isinstance(dropped, BaseException) and not is_missing_index(dropped):
            ok(dropped, f"drop collection {name!r}")

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
        replies = yield Batch([ft("FT.ALTER", *q.alter_args(index, k)) for k in new])
        added = [
            k
            for k, r in zip(new, replies, strict=True)
            if not isinstance(r, BaseException) or "duplicate field" in str(r).lower()
        ]
        if added:
            # Only keys whose fields exist enter the registry, even when others failed.
            (reply,) = yield Batch([call("sadd", self.ks.fields(name), *[b(k) for k in added])])
            ok(reply, "record the indexed metadata keys")
            self._learn(name, set(added))
        for reply in replies:
            if not isinstance(reply, BaseException) or "duplicate field" in str(reply).lower():
                continue
            if is_missing_index(reply):
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
            ok(reply, f"add metadata fields to collection {name!r}")

    def _filter(self, name: str, where: FilterNode | None) -> Op[str]:
        """The query for ``where``, after learning which of its keys are indexed."""
        if where is None:
            return q.MATCH_ALL
        wanted = fields_of(where)
        unknown = sorted(wanted - self._known(name))
        if unknown:
            (flags,) = yield Batch(
                [call("smismember", self.ks.fields(name), [b(k) for k in unknown])]
            )
            flags = ok(flags, "read the indexed metadata keys")
            self._learn(name, {k for k, f in zip(unknown, flags, strict=True) if f})
        return q.to_redis_query(where, q.FieldSchema.of(self._known(name) & wanted))

    # ------------------------------------------------------------ records
    def upsert(self, name: str, records: Sequence[Record], ttl: float | None) -> Op[None]:
        yield from self._ensure_fields(name, {k for r in records for k in r.metadata})
        for chunk in _chunks(records, self.batch_size):
            calls: list[Call] = []
            for rec in chunk:
                key = self.ks.record(name, rec.id)
                # DEL first: a replaced record must not keep fields of old metadata keys.
                calls += [call("delete", key), call("hset", key, mapping=codec.encode_record(rec))]
                if ttl is not None:
                    calls.append(call("pexpire", key, ms(ttl)))
            keys = {k for r in chunk for k in r.metadata}
            if keys:
                calls.append(call("sadd", self.ks.fields(name), *[b(k) for k in sorted(keys)]))
            replies = yield Batch(calls, transaction=True)
            for reply in replies:
                ok(reply, f"write records to collection {name!r}")
            if keys and replies[-1]:
                # The registry lacked keys this process thought indexed: the collection
                # was re-created elsewhere. Add the fields and write the chunk again so
                # it is indexed at once rather than by the background scan.
                yield from self._ensure_fields(name, keys, force=True)
                for reply in (yield Batch(calls, transaction=True)):
                    ok(reply, f"write records to collection {name!r}")

    def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> Op[list[Record]]:
        fields = codec.RECORD_FIELDS + ((q.VECTOR_FIELD,) if include_vectors else ())
        replies = yield Batch([call("hmget", self.ks.record(name, i), list(fields)) for i in ids])
        out = []
        for reply in replies:
            values = ok(reply, "read records")
            if values[0] is not None:
                out.append(
                    codec.decode_record(dict(zip(fields, values, strict=True)), include_vectors)
                )
        return out

    def delete(self, name: str, ids: Sequence[str]) -> Op[int]:
        if not ids:
            return 0
        (n,) = yield Batch([call("delete", *[self.ks.record(name, i) for i in ids])])
        return int(ok(n, "delete records"))

    def count(self, name: str, where: FilterNode | None) -> Op[int]:
        query = yield from self._filter(name, where)
        if query == q.MATCH_NOTHING:
            return 0
        (reply,) = yield Batch(
            [ft("FT.SEARCH", self.ks.index(name), query, *_search_tail("LIMIT", 0, 0))]
        )
        if isinstance(reply, BaseException) and is_missing_index(reply):
            return 0
        return codec.parse_search(ok(reply, "count records")).total

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
                raise FilterError(f"not a cursor of this backend: {cursor!r}")
            after = (int(sk), rid)
        fetch = limit + 8
        ret = [q.ID_FIELD, q.SORT_FIELD, *fields]
        while True:
            lower = q.MATCH_ALL if after is None else f"@{q.SORT_FIELD}:[{after[0]} +inf]"
            (reply,) = yield Batch(
                [
                    ft(
                        "FT.SEARCH",
                        self.ks.index(name),
                        q.combine(lower, query),
                        "RETURN",
                        len(ret),
                        *ret,
                        "SORTBY",
                        q.SORT_FIELD,
                        "ASC",
                        *_search_tail("LIMIT", 0, fetch),
                    )
                ]
            )
            if isinstance(reply, BaseException) and is_missing_index(reply):
                return [], False
            parsed = codec.parse_search(ok(reply, "scan records"))
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
        include_vectors: bool,
    ) -> Op[Page]:
        query = yield from self._filter(name, where)
        if query == q.MATCH_NOTHING:
            return Page([], None)
        fields = [q.TEXT_FIELD, q.META_FIELD] + ([q.VECTOR_FIELD] if include_vectors else [])
        rows, more = yield from self._rows(name, query, min(limit, MAX_PAGE), cursor, fields)
        records = [codec.decode_record(f, include_vectors) for _, _, f in rows]
        last = rows[-1] if rows else None
        return Page(records, f"{last[0]}:{last[1]}" if more and last else None)

    def delete_where(self, name: str, where: FilterNode | None) -> Op[int]:
        query = yield from self._filter(name, where)
        if query == q.MATCH_NOTHING:
            return 0
        total, cursor = 0, None
        while True:
            rows, more = yield from self._rows(name, query, DELETE_PAGE, cursor, [])
            if rows:
                (n,) = yield Batch([call("delete", *[self.ks.record(name, r[1]) for r in rows])])
                total += int(ok(n, "delete records"))
            if not more or not rows:
                return total
            cursor = f"{rows[-1][0]}:{rows[-1][1]}"

    def search(
        self,
        name: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool,
    ) -> Op[list[tuple[Record, float]]]:
        info = yield from self.get_collection(name)
        if info is None:
            return []
        query = yield from self._filter(name, where)
        if query == q.MATCH_NOTHING:
            return []
        params: list[Any] = ["K", k, "BLOB", codec.vector_bytes(list(vector))]
        with self._lock:
            hnsw = self._algorithms.get(name, "hnsw") == "hnsw"
        ef = self.ef_runtime if hnsw else None  # a FLAT index refuses EF_RUNTIME
        if ef is not None:
            params += ["EF", ef]
        ret = [*codec.RECORD_FIELDS, q.DISTANCE_ALIAS] + (
            [q.VECTOR_FIELD] if include_vectors else []
        )
        (reply,) = yield Batch(
            [
                ft(
                    "FT.SEARCH",
                    self.ks.index(name),
                    q.knn_query(query, ef),
                    "PARAMS",
                    len(params),
                    *params,
                    "SORTBY",
                    q.DISTANCE_ALIAS,
                    "ASC",
                    "RETURN",
                    len(ret),
                    *ret,
                    *_search_tail("LIMIT", 0, k),
                )
            ]
        )
        if isinstance(reply, BaseException) and is_missing_index(reply):
            return []
        hits = [
            (
                codec.decode_record(d.fields, include_vectors),
                codec.canonical_distance(info.metric, float(d.fields[q.DISTANCE_ALIAS])),
            )
            for d in codec.parse_search(ok(reply, "search vectors")).docs
        ]
        hits.sort(key=lambda h: (h[1], h[0].id))
        return hits

    def keyword_search(
        self, name: str, text: str, k: int, where: FilterNode | None
    ) -> Op[list[tuple[Record, float]]]:
        words = q.keyword_query(text)
        if words is None:
            return []
        query = yield from self._filter(name, where)
        if query == q.MATCH_NOTHING:
            return []
        ret = codec.RECORD_FIELDS
        (reply,) = yield Batch(
            [
                ft(
                    "FT.SEARCH",
                    self.ks.index(name),
                    q.combine(words, query),
                    "WITHSCORES",
                    "SCORER",
                    "BM25",
                    "RETURN",
                    len(ret),
                    *ret,
                    *_search_tail("LIMIT", 0, k),
                )
            ]
        )
        if isinstance(reply, BaseException) and is_missing_index(reply):
            return []
        parsed = codec.parse_search(ok(reply, "search text"), with_scores=True)
        hits = [(codec.decode_record(d.fields, False), d.score or 0.0) for d in parsed.docs]
        hits.sort(key=lambda h: (-h[1], h[0].id))
        return hits
