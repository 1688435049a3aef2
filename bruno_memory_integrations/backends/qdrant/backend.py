"""`QdrantBackend`: vectors, chat messages and key-value items in Qdrant.

Each operation is written once, as a generator yielding :class:`~.query.Call`
steps (one ``QdrantClient`` method call each); ``connection.py`` runs a call on
the blocking client (``execute``) or the async one (``aexecute``). Local mode,
qdrant-client's Python emulation, is blocking only: its async forms run in
worker threads. ``filters.py`` translates filters, ``codec.py`` turns records,
messages and items into points, ``query.py`` names collections and builds
requests. See docs/backends/qdrant.md.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from qdrant_client import models

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import BackendError, InvalidInputError, NotSupportedError
from ...filters import FilterNode
from ...sansio import Offload, Op, non_idempotent
from ...text import tokenize
from ...types import CollectionInfo, Message, Page, Record
from . import codec
from . import query as q
from .connection import Connection
from .filters import index_plan, to_qdrant_filter
from .options import QdrantOptions, mask_url, parse_options, parse_url

__all__ = ["QdrantBackend", "mask_url"]

T = TypeVar("T")

#: Ids per retrieve / delete request, and points per scroll page.
ID_BATCH = 1000
#: Attempts at reserving a place for a chat append before giving up.
APPEND_TRIES = 10_000
#: Points above which building them is handed to a worker thread by async callers.
_OFFLOAD_MIN = 64


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class QdrantBackend(Backend):
    """Qdrant: a server (``qdrant://``, ``qdrants://``) or local mode (``qdrant:///dir``).

    Open with ``open_store("qdrant://host:6333", **options)`` or
    ``open_store(qdrant_client)``. Options (see docs/backends/qdrant.md):
    ``prefix`` (start of every Qdrant collection name, ``"bruno"``),
    ``batch_size`` (points per request, 256), ``keyword_search`` (index words
    for keyword search in new collections, True), ``payload_indexes`` (make
    payload indexes for filtered fields on a server, True), ``exact`` (exact
    vector search, False), ``hnsw_ef``; for a server ``api_key``,
    ``prefer_grpc``, ``grpc_port``, ``timeout`` and other ``QdrantClient``
    keywords; for ``qdrant://:memory:`` ``name`` (share one in-process database).
    """

    name: ClassVar[str] = "qdrant"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        ttl=False,
        native_async=True,
        nested_metadata=True,
        persistent=True,
        # Qdrant compares numbers as doubles; its text match is by token, not substring.
        refused_filters=frozenset({"big-numbers", "substring"}),
    )

    def __init__(self, connection: Connection, options: QdrantOptions, persistent: bool) -> None:
        """Use :meth:`from_url` or :meth:`from_client`."""
        self._conn = connection
        self.options = options
        self.prefix = options.prefix
        # Per instance: local mode is blocking (threads), keyword search may be off.
        self.capabilities = self.capabilities.with_(  # type: ignore[misc]
            native_async=not connection.local,
            persistent=persistent,
            keyword_search=options.keyword_search,
            hybrid_search=options.keyword_search,
        )
        self._lock = threading.Lock()
        self._infos: dict[str, tuple[CollectionInfo, bool]] = {}
        self._indexed: dict[str, set[str]] = {}
        self._ready: set[str] = set()

    def __repr__(self) -> str:
        return f"QdrantBackend({self._conn.description!r})"

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, /, **options: Any) -> QdrantBackend:
        """Open a Qdrant server or local mode from a URL (see the class docstring).

        Raises:
            ConfigurationError: a bad URL or option (before anything connects), or a
                server older than Qdrant 1.17.
            BackendUnavailableError: the server does not answer (API key masked), or a
                local-mode directory is held by another process.
        """
        target = parse_url(url)
        opts = {**target.options, **options}
        name = opts.pop("name", None)
        if name is not None and (target.mode != "memory" or not isinstance(name, str) or not name):
            from ...errors import ConfigurationError

            raise ConfigurationError(
                "option name (a non-empty string) applies to 'qdrant://:memory:' only"
            )
        ours, rest = parse_options(opts)
        conn = Connection.for_target(target, rest, name)
        try:
            conn.check_server()
        except BaseException:
            conn.close()
            raise
        return cls(conn, ours, persistent=target.mode != "memory")

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> QdrantBackend:
        """Use a ``QdrantClient`` or ``AsyncQdrantClient`` you have; it is never closed here.

        Only the backend's own options apply (connection settings come from the client).
        """
        ours, rest = parse_options(dict(options))
        if rest:
            from ...errors import ConfigurationError

            raise ConfigurationError(
                f"unknown options for a Qdrant client: {sorted(rest)} (connection settings "
                f"come from the client)"
            )
        conn = Connection.for_client(client)
        try:
            conn.check_server()
        except BaseException:
            conn.close()
            raise
        inner = getattr(client, "_client", None)
        persistent = bool(getattr(inner, "persistent", True))
        return cls(conn, ours, persistent=persistent)

    # ------------------------------------------------------------ running
    def execute(self, step: q.Call) -> Any:
        return self._conn.execute(step)

    async def aexecute(self, step: q.Call) -> Any:
        return await self._conn.aexecute(step)

    def close(self) -> None:
        self._conn.close()
        super().close()

    async def aclose(self) -> None:
        await self._conn.aclose()
        self._shutdown_executor()

    # ------------------------------------------------------------ names and caches
    def _qname(self, name: str) -> str:
        return q.record_collection(self.prefix, name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._infos.pop(name, None)
            self._indexed.pop(self._qname(name), None)

    def _describe(self, name: str) -> Op[tuple[CollectionInfo, bool] | None]:
        """(info, keyword search?) of a collection, from the cache or the server."""
        with self._lock:
            cached = self._infos.get(name)
        if cached is not None:
            return cached
        qname = self._qname(name)
        desc = yield q.soft_call("get_collection", collection_name=qname)
        if q.is_missing(desc):
            return None
        if isinstance(desc, Exception):
            raise desc
        parsed = q.info_from_metadata(desc.config.metadata)
        if parsed is None or parsed[0].name != name:
            raise BackendError(
                f"Qdrant collection {qname!r} exists but holds no record of collection "
                f"{name!r} in its metadata: it was not made by this package with prefix "
                f"{self.prefix!r}, or the server drops collection metadata (Qdrant 1.16 or "
                f"later keeps it); use another prefix or collection name"
            )
        with self._lock:
            self._infos[name] = parsed
            self._indexed.setdefault(qname, set()).update(desc.payload_schema or {})
        return parsed

    def _require(self, name: str) -> Op[tuple[CollectionInfo, bool]]:
        described = yield from self._describe(name)
        if described is None:
            raise BackendError(
                f"collection {name!r} does not exist (dropped by another store?); open a new "
                f"store to create it again"
            )
        return described

    def _index(self, qname: str, fields: dict[str, models.PayloadSchemaType]) -> Op[None]:
        """Make payload indexes a server does not have yet (local mode has none)."""
        if self._conn.local or not self.options.payload_indexes:
            return
        with self._lock:
            known = self._indexed.setdefault(qname, set())
            new = {p: s for p, s in fields.items() if p not in known}
            known.update(new)
        for path, schema in new.items():
            # Built in the background (wait=False): queries stay exact meanwhile, only
            # slower. A field with an index of another type keeps it (an error, ignored).
            yield q.soft_call(
                "create_payload_index",
                collection_name=qname,
                field_name=path,
                field_schema=schema,
                wait=False,
            )

    def _filter(self, name: str, where: FilterNode | None) -> Op[models.Filter | bool]:
        flt = to_qdrant_filter(where)
        if isinstance(flt, models.Filter):
            yield from self._index(self._qname(name), index_plan(where).fields)
        return flt

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        qname = self._qname(info.name)
        keyword = self.options.keyword_search
        self._forget(info.name)
        reply = yield q.soft_call(
            "create_collection", collection_name=qname, **q.collection_config(info, keyword)
        )
        if isinstance(reply, Exception) and not q.already_exists(reply):
            raise reply
        if keyword and not isinstance(reply, Exception):
            yield from self._index(qname, {"w": models.PayloadSchemaType.KEYWORD})

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        described = yield from self._describe(name)
        return described[0] if described is not None else None

    def list_collections(self) -> Op[list[str]]:
        reply = yield q.call("get_collections")
        start = q.record_collection_prefix(self.prefix)
        names = []
        for c in reply.collections:
            if not c.name.startswith(start):
                continue
            desc = yield q.soft_call("get_collection", collection_name=c.name)
            if isinstance(desc, Exception):
                continue  # dropped meanwhile
            parsed = q.info_from_metadata(desc.config.metadata)
            if parsed is not None and self._qname(parsed[0].name) == c.name:
                names.append(parsed[0].name)
        return sorted(names)

    def drop_collection(self, name: str) -> Op[None]:
        self._forget(name)
        reply = yield q.soft_call("delete_collection", collection_name=self._qname(name))
        self._forget(name)
        if isinstance(reply, Exception) and not q.is_missing(reply):
            raise reply

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        info, keyword = yield from self._require(collection)
        qname = self._qname(collection)
        for chunk in _chunks(records, self.options.batch_size):

            def build(chunk: Sequence[Record] = chunk) -> list[models.PointStruct]:
                return [codec.record_point(r, info.metric, keyword) for r in chunk]

            points = (yield Offload(build)) if len(chunk) >= _OFFLOAD_MIN else build()
            yield q.call("upsert", collection_name=qname, points=points, wait=True)

    def _retrieve(
        self, qname: str, ids: Sequence[str], payload: Any = True, vectors: bool = False
    ) -> Op[list[Any]]:
        out: list[Any] = []
        for chunk in _chunks(ids, ID_BATCH):
            out += yield q.call(
                "retrieve",
                collection_name=qname,
                ids=list(chunk),
                with_payload=payload,
                with_vectors=vectors,
            )
        return out

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        if (yield from self._describe(collection)) is None:
            return []
        points = yield from self._retrieve(
            self._qname(collection), [codec.record_point_id(i) for i in ids], True, include_vectors
        )
        return [codec.decode_record(p.payload, p.vector, include_vectors) for p in points]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        if not ids or (yield from self._describe(collection)) is None:
            return 0
        qname = self._qname(collection)
        found = yield from self._retrieve(qname, [codec.record_point_id(i) for i in ids], False)
        existing = [p.id for p in found]
        for chunk in _chunks(existing, ID_BATCH):
            yield q.call(
                "delete",
                collection_name=qname,
                points_selector=models.PointIdsList(points=list(chunk)),
                wait=True,
            )
        return len(existing)

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        flt = yield from self._filter(collection, where)
        if flt is False:
            return 0
        qname = self._qname(collection)
        selector = flt if isinstance(flt, models.Filter) else models.Filter()
        # Counted first: Qdrant's delete does not say how many points it removed.
        counted = yield q.call("count", collection_name=qname, count_filter=selector, exact=True)
        if counted.count:
            yield q.call(
                "delete",
                collection_name=qname,
                points_selector=models.FilterSelector(filter=selector),
                wait=True,
            )
        return int(counted.count)

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        flt = yield from self._filter(collection, where)
        if flt is False:
            return 0
        reply = yield q.call(
            "count",
            collection_name=self._qname(collection),
            count_filter=flt if isinstance(flt, models.Filter) else None,
            exact=True,
        )
        return int(reply.count)

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        offset = None
        if cursor is not None:
            try:
                offset = str(uuid.UUID(cursor))
            except (ValueError, AttributeError, TypeError):
                raise InvalidInputError(f"not a cursor of the qdrant backend: {cursor!r}") from None
        if (yield from self._describe(collection)) is None:
            return Page([], None)
        flt = yield from self._filter(collection, where)
        if flt is False:
            return Page([], None)
        # Scroll pages in point-id order; the cursor is the id the next page starts at.
        points, nxt = yield q.call(
            "scroll",
            collection_name=self._qname(collection),
            scroll_filter=flt if isinstance(flt, models.Filter) else None,
            limit=limit,
            offset=offset,
            with_payload=True,
            with_vectors=include_vectors,
        )
        records = [codec.decode_record(p.payload, p.vector, include_vectors) for p in points]
        return Page(records, str(nxt) if nxt is not None else None)

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        described = yield from self._describe(collection)
        if described is None:
            return []
        flt = yield from self._filter(collection, where)
        if flt is False:
            return []
        info = described[0]
        reply = yield q.call(
            "query_points",
            collection_name=self._qname(collection),
            query=list(vector),
            query_filter=flt if isinstance(flt, models.Filter) else None,
            limit=k,
            with_payload=True,
            with_vectors=include_vectors,
            search_params=q.search_params(self.options.exact, self.options.hnsw_ef),
        )
        hits = [
            (
                codec.decode_record(p.payload, p.vector, include_vectors),
                q.canonical_distance(info.metric, p.score),
            )
            for p in reply.points
        ]
        hits.sort(key=lambda h: (h[1], h[0].id))
        return hits

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        words = sorted(set(tokenize(query)))
        described = yield from self._describe(collection)
        if not words or described is None:
            return []
        flt = yield from self._filter(collection, where)
        if flt is False:
            return []
        if not described[1]:
            raise NotSupportedError(
                self.name,
                f"keyword search in collection {collection!r}",
                "it was created with keyword_search=False",
            )
        # Every query word must be among the record's words (``w``); Qdrant ranks
        # the matches by the IDF-weighted sparse vectors of the words.
        must: list[Any] = [q.match("w", w) for w in words]
        if isinstance(flt, models.Filter):
            must.append(flt)
        reply = yield q.call(
            "query_points",
            collection_name=self._qname(collection),
            query=codec.query_sparse(words),
            using=codec.KEYWORD_VECTOR,
            query_filter=models.Filter(must=must),
            limit=k,
            with_payload=True,
        )
        hits = [(codec.decode_record(p.payload, None, False), float(p.score)) for p in reply.points]
        hits.sort(key=lambda h: (-h[1], h[0].id))
        return hits

    # ------------------------------------------------------------ chat and key-value
    def _aux(self, qname: str, indexes: dict[str, models.PayloadSchemaType]) -> Op[str]:
        """Make the chat or key-value collection on first use (payload only, no vectors)."""
        with self._lock:
            if qname in self._ready:
                return qname
        exists = yield q.call("collection_exists", collection_name=qname)
        if not exists:
            reply = yield q.soft_call("create_collection", collection_name=qname, vectors_config={})
            if isinstance(reply, Exception) and not q.already_exists(reply):
                raise reply
        yield from self._index(qname, indexes)
        with self._lock:
            self._ready.add(qname)
        return qname

    def _chat(self) -> Op[str]:
        return (
            yield from self._aux(
                q.chat_collection(self.prefix),
                {
                    "kind": models.PayloadSchemaType.KEYWORD,
                    "ns": models.PayloadSchemaType.KEYWORD,
                    "session": models.PayloadSchemaType.KEYWORD,
                    "count": models.PayloadSchemaType.INTEGER,
                },
            )
        )

    def _kv(self) -> Op[str]:
        return (
            yield from self._aux(
                q.kv_collection(self.prefix), {"c": models.PayloadSchemaType.KEYWORD}
            )
        )

    @staticmethod
    def _session(namespace: str, session_id: str) -> list[Any]:
        return [q.match("ns", namespace), q.match("session", session_id)]

    def _length(self, qname: str, namespace: str, session_id: str) -> Op[int]:
        head = yield q.call(
            "retrieve",
            collection_name=qname,
            ids=[codec.chat_head_id(namespace, session_id)],
            with_payload=["count"],
        )
        return int(head[0].payload.get("count", 0)) if head else 0

    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        """Append in order; safe with concurrent writers on any number of clients.

        Message ``n`` of a session is point ``chat_message_id(ns, session, n)``.
        A writer claims places ``start .. start+k-1`` by inserting the first
        message with ``update_mode=insert_only`` (atomic on one point): if the
        point was there already, it reads how many places that writer claimed and
        tries after them. Then it writes the rest and raises the session's length
        (the head point) with a conditional upsert that never lowers it.
        """
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        qname = yield from self._chat()
        start = yield from self._length(qname, namespace, session_id)
        size, token = len(messages), uuid.uuid4().hex

        def point(seq: int, message: Message, extra: dict[str, Any]) -> models.PointStruct:
            payload = {
                "kind": "msg",
                "ns": namespace,
                "session": session_id,
                "seq": seq,
                "body": codec.encode_message(message),
                **extra,
            }
            return models.PointStruct(
                id=codec.chat_message_id(namespace, session_id, seq), vector={}, payload=payload
            )

        for _ in range(APPEND_TRIES):
            first = point(start, messages[0], {"size": size, "token": token})
            yield q.call(
                "upsert",
                collection_name=qname,
                points=[first],
                update_mode=models.UpdateMode.INSERT_ONLY,
                wait=True,
            )
            got = yield q.call(
                "retrieve", collection_name=qname, ids=[first.id], with_payload=["token", "size"]
            )
            if got and got[0].payload.get("token") == token:
                break
            if got:  # another writer holds this place: skip the places it claimed
                start += max(1, int(got[0].payload.get("size", 1)))
        else:  # pragma: no cover - needs thousands of writers racing on one session
            raise BackendError(
                f"could not append to chat session {session_id!r}: too many concurrent writers"
            )
        rest = [point(start + i, m, {}) for i, m in enumerate(messages) if i > 0]
        for chunk in _chunks(rest, self.options.batch_size):
            yield q.call("upsert", collection_name=qname, points=list(chunk), wait=True)
        end = start + size
        head = models.PointStruct(
            id=codec.chat_head_id(namespace, session_id),
            vector={},
            payload={"kind": "head", "ns": namespace, "session": session_id, "count": end},
        )
        # Inserted if missing, raised if lower, left alone if a later append is ahead.
        yield q.call(
            "upsert",
            collection_name=qname,
            points=[head],
            update_filter=models.Filter(
                must=[models.FieldCondition(key="count", range=models.Range(lt=end))]
            ),
            wait=True,
        )

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        """Reads places ``length - last_n .. length - 1`` by id: O(last_n), not O(session)."""
        qname = yield from self._chat()
        length = yield from self._length(qname, namespace, session_id)
        hi = length
        lo = max(0, length - last_n) if last_n is not None else 0
        found: dict[int, Message] = {}
        while hi > lo:
            ids = [codec.chat_message_id(namespace, session_id, s) for s in range(lo, hi)]
            for p in (yield from self._retrieve(qname, ids, ["seq", "body"])):
                found[int(p.payload["seq"])] = codec.decode_message(p.payload["body"])
            if last_n is None or len(found) >= last_n or lo == 0:
                break
            # Places claimed by an append that never finished: read further back.
            hi, lo = lo, max(0, lo - (last_n - len(found)))
        messages = [found[s] for s in sorted(found)]
        return messages[-last_n:] if last_n is not None else messages

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        qname = yield from self._chat()
        # The head first: readers see an empty session at once.
        yield q.call(
            "delete",
            collection_name=qname,
            points_selector=models.PointIdsList(points=[codec.chat_head_id(namespace, session_id)]),
            wait=True,
        )
        yield q.call(
            "delete",
            collection_name=qname,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[q.match("kind", "msg"), *self._session(namespace, session_id)]
                )
            ),
            wait=True,
        )

    def _scroll_all(self, qname: str, flt: models.Filter, fields: list[str]) -> Op[list[Any]]:
        out: list[Any] = []
        offset = None
        while True:
            points, offset = yield q.call(
                "scroll",
                collection_name=qname,
                scroll_filter=flt,
                limit=ID_BATCH,
                offset=offset,
                with_payload=fields,
                with_vectors=False,
            )
            out += points
            if offset is None:
                return out

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        qname = yield from self._chat()
        heads = yield from self._scroll_all(
            qname,
            models.Filter(must=[q.match("kind", "head"), q.match("ns", namespace)]),
            ["session", "count"],
        )
        return sorted(str(p.payload["session"]) for p in heads if p.payload.get("count", 0) > 0)

    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        qname = yield from self._kv()
        points = [
            models.PointStruct(
                id=codec.kv_point_id(collection, key),
                vector={},
                payload={"c": collection, "k": key, "v": codec.encode_value(value)},
            )
            for key, value in items
        ]
        for chunk in _chunks(points, self.options.batch_size):
            yield q.call("upsert", collection_name=qname, points=list(chunk), wait=True)

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        qname = yield from self._kv()
        points = yield from self._retrieve(
            qname, [codec.kv_point_id(collection, k) for k in keys], ["k", "v"]
        )
        found = {str(p.payload["k"]): codec.decode_value(p.payload["v"]) for p in points}
        return [found.get(k) for k in keys]

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        qname = yield from self._kv()
        for chunk in _chunks([codec.kv_point_id(collection, k) for k in keys], ID_BATCH):
            yield q.call(
                "delete",
                collection_name=qname,
                points_selector=models.PointIdsList(points=list(chunk)),
                wait=True,
            )

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        qname = yield from self._kv()
        points = yield from self._scroll_all(
            qname, models.Filter(must=[q.match("c", collection)]), ["k"]
        )
        keys = (str(p.payload["k"]) for p in points)
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))
