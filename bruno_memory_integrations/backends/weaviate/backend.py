"""`WeaviateBackend`: vector records, chat messages and key-value items in Weaviate.

Each operation is written once, as a generator that yields :class:`~.query.Call`
steps (one weaviate-client call each) and receives their replies; ``connection.py``
runs a step on the ``WeaviateClient`` (``execute``) or on this event loop's
``WeaviateAsyncClient`` (``aexecute``). ``schema.py`` says how names, ids and
metadata map onto Weaviate, ``filters.py`` translates filters, ``query.py`` builds
the calls. docs/backends/weaviate.md describes the layout and its reasons.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from weaviate.classes.data import DataObject
from weaviate.classes.query import BM25Operator, Filter, HybridFusion, MetadataQuery, Sort

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import (
    BackendError,
    ConfigurationError,
    FilterError,
    InvalidInputError,
    NotSupportedError,
)
from ...filters import FilterNode
from ...sansio import Offload, Op, non_idempotent
from ...text import tokenize
from ...types import CollectionInfo, Message, Page, Record
from . import filters as f
from . import query as q
from . import schema as s
from .connection import AlreadyExists, Connection, NotFound
from .options import check_common, parse_settings

__all__ = ["WeaviateBackend"]

#: Weaviate's default QUERY_MAXIMUM_RESULTS: no query returns more (offset + limit).
MAX_RESULTS = 10_000
#: Ids per fetch-by-id request.
FETCH_CHUNK = 1000
#: Objects per page when the backend lists everything (keys, sessions).
LIST_PAGE = 1000
#: Message slots read per probe when finding the end of a session.
PROBE = 64
#: The constant of Weaviate's rankedFusion (``1 / (60 + rank)``, ranks from 0).
RANKED_FUSION_K = 60
#: Records encoded inline; bigger batches are encoded off the event loop.
_ENCODE_INLINE_MAX = 256
_RECORD_PROPS = [s.ID, s.TEXT, s.META]


def _version(text: str) -> tuple[int, int, int]:
    parts = [*text.split("-")[0].split("."), "0", "0"][:3]
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return (0, 0, 0)


class WeaviateBackend(Backend):
    """Weaviate (1.33 or later): vectors, BM25 and hybrid search, chat, key-value.

    Open with ``open_store("weaviate://host:8080", grpc_port=50051, api_key=...)``
    (``weaviates://`` for TLS) or ``open_store(client)`` with a ``WeaviateClient`` or
    ``WeaviateAsyncClient`` you already have. Options (docs/backends/weaviate.md):
    ``api_key``, ``grpc_port``, ``grpc_host``, ``prefix`` (of every collection name,
    default ``"Bruno"``), ``index`` (``"hnsw"`` or ``"flat"``), ``batch_size``
    (objects per insert request), ``timeout``, ``init_timeout``, ``headers``.
    """

    name: ClassVar[str] = "weaviate"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        native_hybrid=True,
        native_async=True,
        nested_metadata=True,
        # The client sends numbers as doubles; Like's wildcards cannot be escaped.
        refused_filters=frozenset({"big-numbers", "substring"}),
    )

    def __init__(
        self,
        connection: Connection,
        *,
        prefix: str = "Bruno",
        index: str = "hnsw",
        batch_size: int = 1000,
    ) -> None:
        self._conn = connection
        self.prefix = prefix
        self.index = index
        self.batch_size = batch_size
        if not connection.has_async:
            # A caller's WeaviateClient only: async calls run whole operations in threads.
            self.capabilities = type(self).capabilities.with_(native_async=False)  # type: ignore[misc]
        self._lock = threading.Lock()
        self._props: dict[str, set[str]] = {}  # class -> property names known to exist
        self._infos: dict[str, CollectionInfo] = {}  # class -> what it was built with
        self._ready: set[str] = set()  # chat / kv classes known to exist
        self._server_version: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"WeaviateBackend({self._conn.description!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> WeaviateBackend:
        """Connect to ``weaviate://host[:port]`` or ``weaviates://host[:port]``.

        Raises:
            ConfigurationError: a bad URL or option (before any connection).
            BackendUnavailableError: the server cannot be reached or refuses the key
                (the key is never shown).
        """
        settings = parse_settings(url, options)
        return cls(
            Connection.from_settings(settings),
            prefix=settings.prefix,
            index=settings.index,
            batch_size=settings.batch_size,
        )

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> WeaviateBackend:
        """Use a ``WeaviateClient`` or ``WeaviateAsyncClient`` you already have (never closed
        by the backend). An async client must be connected (``await client.connect()``)."""
        import weaviate

        ours = check_common(dict(options))
        rest = set(options) - {"prefix", "index", "batch_size"}
        if rest:
            raise ConfigurationError(
                f"unknown options for a Weaviate client: {sorted(rest)} (connection settings "
                f"come from the client)"
            )
        if isinstance(client, weaviate.WeaviateAsyncClient):
            conn = Connection(async_client=client, description="a WeaviateAsyncClient")
        elif isinstance(client, weaviate.WeaviateClient):
            conn = Connection(sync_client=client, description="a WeaviateClient")
        else:
            raise ConfigurationError(
                f"expected a weaviate.WeaviateClient or WeaviateAsyncClient, got "
                f"{type(client).__module__}.{type(client).__name__}"
            )
        return cls(conn, **ours)

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

    # ------------------------------------------------------------ helpers
    def _cls(self, name: str) -> str:
        return s.vector_class(self.prefix, name)

    def _require(self, major: int, minor: int, what: str) -> Op[None]:
        if self._server_version is None:
            meta = yield q.Call("get_meta")
            self._server_version = _version(str(meta.get("version", "0")))
        if self._server_version < (major, minor, 0):
            have = ".".join(map(str, self._server_version))
            raise NotSupportedError(
                self.name,
                f"{what} on Weaviate {have}",
                f"it needs Weaviate {major}.{minor} or later",
            )

    def _known(self, cls: str) -> set[str]:
        with self._lock:
            return set(self._props.get(cls, ()))

    def _forget(self, cls: str) -> None:
        with self._lock:
            self._props.pop(cls, None)
            self._infos.pop(cls, None)
            self._ready.discard(cls)

    def _load_schema(self, cls: str) -> Op[Any]:
        """Read a collection's configuration (None if missing) and learn its properties."""
        config = yield q.Call("config.get", collection=cls, tolerate=(NotFound,))
        if isinstance(config, NotFound):
            self._forget(cls)
            return None
        with self._lock:
            self._props[cls] = {p.name for p in config.properties}
        return config

    def _ensure_properties(self, cls: str, needed: set[tuple[str, str]]) -> Op[None]:
        """Create the metadata properties a write needs (explicitly: no auto-schema)."""
        want = {s.meta_property(k, kind): (k, kind) for k, kind in needed}
        missing = set(want) - self._known(cls)
        if missing:
            yield from self._load_schema(cls)
            missing = set(want) - self._known(cls)
        for prop in sorted(missing):
            key, kind = want[prop]
            # Another writer may add it first: "already exists" is success.
            yield q.Call(
                "config.add_property",
                args=(q.meta_property_config(key, kind),),
                collection=cls,
                tolerate=(AlreadyExists,),
            )
            with self._lock:
                self._props.setdefault(cls, set()).add(prop)

    def _filter(self, cls: str, where: FilterNode | None) -> Op[f.Translated]:
        """Translate ``where`` against the collection's properties (re-read if needed)."""
        if where is None:
            return f.ALWAYS
        if f.uses_not(where):
            try:
                yield from self._require(1, 33, "filters with $not, $ne, $nin or $exists: false")
            except NotSupportedError as exc:
                raise FilterError(str(exc)) from None
        wanted = f.wanted_properties(where)
        if not wanted <= self._known(cls):
            # A property another writer added since we last looked would hold values.
            yield from self._load_schema(cls)
        known = self._known(cls)
        return f.to_weaviate_filter(where, known.__contains__)

    @staticmethod
    def _record(obj: Any, include_vectors: bool) -> Record:
        p = obj.properties
        vec = (obj.vector or {}).get("default") if include_vectors else None
        return Record(
            str(p[s.ID]),
            str(p.get(s.TEXT) or ""),
            [float(x) for x in vec] if vec is not None else None,
            json.loads(p[s.META]) if p.get(s.META) else {},
        )

    def _fetch_by_ids(
        self, cls: str, uuids: Sequence[str], props: list[str], include_vectors: bool = False
    ) -> Op[list[Any]]:
        out: list[Any] = []
        for chunk in q.chunks(list(uuids), FETCH_CHUNK):
            res = yield q.Call(
                "query.fetch_objects",
                kwargs={
                    "filters": Filter.by_id().contains_any(list(chunk)),
                    "limit": len(chunk),
                    "include_vector": include_vectors,
                    "return_properties": props,
                },
                collection=cls,
            )
            out += res.objects
        return out

    def _page(
        self,
        cls: str,
        where: Any,
        limit: int,
        cursor: tuple[int, list[str]] | None,
        props: list[str],
        include_vectors: bool = False,
    ) -> Op[tuple[list[Any], tuple[int, list[str]] | None]]:
        """One page of objects in ``bruno_key`` order; the cursor is (last key, ids at it).

        Weaviate's ``after`` cursor cannot be combined with filters, so pages are cut
        by a range filter on ``bruno_key`` (52 bits of the object id) instead.
        """
        start, seen = cursor if cursor is not None else (0, [])
        parts = [Filter.by_property(s.KEY).greater_or_equal(start)]
        if where is not f.ALWAYS:
            parts.append(where)
        res = yield q.Call(
            "query.fetch_objects",
            kwargs={
                "filters": Filter.all_of(parts) if len(parts) > 1 else parts[0],
                "sort": Sort.by_property(s.KEY, ascending=True),
                "limit": min(limit + len(seen), MAX_RESULTS),
                "include_vector": include_vectors,
                "return_properties": [*props, s.KEY],
            },
            collection=cls,
        )
        skip = set(seen)
        objs = [o for o in res.objects if str(o.uuid) not in skip][:limit]
        if len(objs) < limit:
            return objs, None
        last = int(objs[-1].properties[s.KEY])
        at_last = [str(o.uuid) for o in objs if int(o.properties[s.KEY]) == last]
        if last == start:
            at_last = seen + at_last
        return objs, (last, at_last)

    def _all(self, cls: str, where: Any, props: list[str]) -> Op[list[Any]]:
        out: list[Any] = []
        cursor: tuple[int, list[str]] | None = None
        while True:
            objs, cursor = yield from self._page(cls, where, LIST_PAGE, cursor, props)
            out += objs
            if cursor is None:
                return out

    def _delete_all_matching(self, cls: str, where: Any) -> Op[int]:
        """Batch-delete until nothing matches (each request deletes at most 10 000)."""
        total = 0
        while True:
            res = yield q.Call("data.delete_many", kwargs={"where": where}, collection=cls)
            total += int(res.successful)
            if res.matches == 0 or res.successful == 0:
                if res.failed:
                    raise BackendError(f"Weaviate failed to delete {res.failed} objects")
                return total

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        cls = self._cls(info.name)
        self._forget(cls)
        yield dataclass_replace_tolerate(
            q.vector_class_config(cls, s.encode_info(info), info.metric, self.index)
        )

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        cls = self._cls(name)
        config = yield from self._load_schema(cls)
        if config is None:
            return None
        info = s.decode_info(config.description)
        if info is not None:
            with self._lock:
                self._infos[cls] = info
        return info

    def list_collections(self) -> Op[list[str]]:
        configs = yield q.Call("collections.list_all", kwargs={"simple": True})
        head = s.vector_prefix(self.prefix)
        names = []
        for cls, config in configs.items():
            if cls.startswith(head):
                info = s.decode_info(config.description)
                if info is not None and s.vector_class(self.prefix, info.name) == cls:
                    names.append(info.name)
        return sorted(names)

    def drop_collection(self, name: str) -> Op[None]:
        cls = self._cls(name)
        self._forget(cls)
        yield q.Call("collections.delete", args=(cls,))
        self._forget(cls)

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        cls = self._cls(collection)

        def encode() -> tuple[list[DataObject[Any, Any]], set[tuple[str, str]]]:
            objects, needed = [], set()
            for rec in records:
                oid, props, keys = q.record_properties(rec)
                objects.append(DataObject(properties=props, uuid=oid, vector=rec.vector))
                needed |= keys
            return objects, needed

        if len(records) > _ENCODE_INLINE_MAX:
            objects, needed = yield Offload(encode)
        else:
            objects, needed = encode()
        yield from self._ensure_properties(cls, needed)
        for chunk in q.chunks(objects, self.batch_size):
            res = yield q.Call("data.insert_many", args=(list(chunk),), collection=cls)
            if res.has_errors:
                first = next(iter(res.errors.values()))
                raise BackendError(
                    f"Weaviate refused {len(res.errors)} of {len(chunk)} records in "
                    f"collection {collection!r}: {getattr(first, 'message', first)}"
                )

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        cls = self._cls(collection)
        uuids = [s.object_uuid("r", i) for i in ids]
        objs = yield from self._fetch_by_ids(cls, uuids, _RECORD_PROPS, include_vectors)
        return [self._record(o, include_vectors) for o in objs]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        cls = self._cls(collection)
        total = 0
        for chunk in q.chunks([s.object_uuid("r", i) for i in ids], FETCH_CHUNK):
            res = yield q.Call(
                "data.delete_many",
                kwargs={"where": Filter.by_id().contains_any(list(chunk))},
                collection=cls,
            )
            total += int(res.successful)
        return total

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        cls = self._cls(collection)
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return 0
        if flt is f.ALWAYS:
            flt = Filter.by_property(s.KEY).greater_or_equal(0)
        return (yield from self._delete_all_matching(cls, flt))

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        cls = self._cls(collection)
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return 0
        res = yield q.Call(
            "aggregate.over_all",
            kwargs={"total_count": True, "filters": None if flt is f.ALWAYS else flt},
            collection=cls,
        )
        return int(res.total_count or 0)

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        cls = self._cls(collection)
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return Page([], None)
        start: tuple[int, list[str]] | None = None
        if cursor is not None:
            try:
                key, seen = json.loads(cursor)
                start = (int(key), [str(x) for x in seen])
            except (ValueError, TypeError) as exc:
                raise InvalidInputError(
                    f"not a scan cursor of the weaviate backend: {cursor!r}; pass the "
                    f"Page.cursor of the previous page"
                ) from exc
        objs, nxt = yield from self._page(
            cls, flt, min(limit, MAX_RESULTS // 2), start, _RECORD_PROPS, include_vectors
        )
        records = [self._record(o, include_vectors) for o in objs]
        return Page(records, None if nxt is None else json.dumps([nxt[0], nxt[1]]))

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        cls = self._cls(collection)
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return []
        info = self._infos.get(cls)
        if info is None:
            info = yield from self.get_collection(collection)
        res = yield q.Call(
            "query.near_vector",
            kwargs={
                "near_vector": list(vector),
                "limit": min(k, MAX_RESULTS),
                "filters": None if flt is f.ALWAYS else flt,
                "include_vector": include_vectors,
                "return_metadata": MetadataQuery(distance=True),
                "return_properties": _RECORD_PROPS,
            },
            collection=cls,
        )
        squared = info is not None and info.metric == "euclidean"
        hits = []
        for o in res.objects:
            d = float(o.metadata.distance)
            # Weaviate's euclidean distance is l2-squared; ours is the L2 norm.
            hits.append((self._record(o, include_vectors), max(d, 0.0) ** 0.5 if squared else d))
        return hits

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        if not tokenize(query):
            return []
        cls = self._cls(collection)
        yield from self._require(1, 31, "keyword search with every word required")
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return []
        res = yield q.Call(
            "query.bm25",
            kwargs={
                "query": query,
                "query_properties": [s.TEXT],
                "operator": BM25Operator.and_(),
                "limit": min(k, MAX_RESULTS),
                "filters": None if flt is f.ALWAYS else flt,
                "return_metadata": MetadataQuery(score=True),
                "return_properties": _RECORD_PROPS,
            },
            collection=cls,
        )
        return [(self._record(o, False), float(o.metadata.score or 0.0)) for o in res.objects]

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
    ) -> Op[list[Hit]]:
        cls = self._cls(collection)
        yield from self._require(1, 31, "hybrid search with every word required")
        flt = yield from self._filter(cls, where)
        if flt is f.NEVER:
            return []
        res = yield q.Call(
            "query.hybrid",
            kwargs={
                "query": query,
                "vector": list(vector),
                "alpha": 0.5,
                "query_properties": [s.TEXT],
                "fusion_type": HybridFusion.RANKED,
                "bm25_operator": BM25Operator.and_(),
                "limit": min(k, MAX_RESULTS),
                "filters": None if flt is f.ALWAYS else flt,
                "return_metadata": MetadataQuery(score=True),
                "return_properties": _RECORD_PROPS,
            },
            collection=cls,
        )
        # rankedFusion scores alpha / (60 + rank) + (1 - alpha) / (60 + rank), ranks from 0:
        # at most 1/60 with alpha 0.5, so 60 * score is the fused rank score in [0, 1].
        return [
            (self._record(o, False), min(1.0, RANKED_FUSION_K * float(o.metadata.score or 0.0)))
            for o in res.objects
        ]

    # ------------------------------------------------------------ chat
    def _ensure_class(self, cls: str, make: q.Call) -> Op[None]:
        if cls in self._ready:
            return
        yield dataclass_replace_tolerate(make)
        with self._lock:
            self._ready.add(cls)

    def _head(self, chat: str, namespace: str, session_id: str) -> Op[int | None]:
        """The session's recorded length (a hint: the end is found by probing), or None
        when the chat collection does not exist."""
        res = yield q.Call(
            "query.fetch_objects",
            kwargs={
                "filters": Filter.by_id().equal(s.object_uuid("h", namespace, session_id)),
                "limit": 1,
                "return_properties": ["length"],
            },
            collection=chat,
            tolerate=(NotFound,),
        )
        if isinstance(res, NotFound):
            return None
        return int(res.objects[0].properties.get("length") or 0) if res.objects else 0

    def _slots(
        self, chat: str, namespace: str, session_id: str, seqs: Sequence[int]
    ) -> Op[dict[int, Any]]:
        ids = {s.object_uuid("m", namespace, session_id, n): n for n in seqs}
        objs = yield from self._fetch_by_ids(chat, list(ids), ["seq", "message"])
        return {int(o.properties["seq"]): o for o in objs}

    def _length(self, chat: str, namespace: str, session_id: str, hint: int) -> Op[int]:
        """The first free message slot at or after ``hint`` (slots fill contiguously)."""
        start = hint
        while True:
            found = yield from self._slots(chat, namespace, session_id, range(start, start + PROBE))
            n = 0
            while start + n in found:
                n += 1
            if n < PROBE:
                return start + n
            start += PROBE

    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        chat = s.chat_class(self.prefix)
        yield from self._ensure_class(chat, q.chat_class_config(chat))
        seq = (yield from self._head(chat, namespace, session_id)) or 0
        ns, sid = s.wrap(namespace), s.wrap(session_id)
        for msg in messages:
            body = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
            while True:
                # Creating an object whose id exists fails: that claims a slot atomically,
                # so concurrent writers (any process) never overwrite each other.
                oid = s.object_uuid("m", namespace, session_id, seq)
                res = yield q.Call(
                    "data.insert",
                    kwargs={
                        "properties": {
                            "ns": ns, "session": sid, "kind": "m", "seq": seq, "message": body,
                            s.KEY: s.object_key(oid),
                        },
                        "uuid": oid,
                    },
                    collection=chat,
                    tolerate=(AlreadyExists,),
                )
                seq += 1
                if not isinstance(res, AlreadyExists):
                    break
        head = s.object_uuid("h", namespace, session_id)
        yield q.Call(
            "data.insert_many",
            args=(
                [
                    DataObject(
                        properties={
                            "ns": ns, "session": sid, "kind": "h", "length": seq,
                            s.KEY: s.object_key(head),
                        },
                        uuid=head,
                    )
                ],
            ),
            collection=chat,
        )

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        chat = s.chat_class(self.prefix)
        hint = yield from self._head(chat, namespace, session_id)
        if hint is None:
            return []
        length = yield from self._length(chat, namespace, session_id, hint)
        start = 0 if last_n is None else max(0, length - last_n)
        found = yield from self._slots(chat, namespace, session_id, range(start, length))
        return [json.loads(found[n].properties["message"]) for n in sorted(found)]

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        chat = s.chat_class(self.prefix)
        if chat not in self._ready and (yield from self._load_schema(chat)) is None:
            return
        where = Filter.all_of(
            [
                Filter.by_property("ns").equal(s.wrap(namespace)),
                Filter.by_property("session").equal(s.wrap(session_id)),
            ]
        )
        res = yield q.Call(
            "data.delete_many", kwargs={"where": where}, collection=chat, tolerate=(NotFound,)
        )
        if isinstance(res, NotFound) or res.matches == 0:
            return
        yield from self._delete_all_matching(chat, where)

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        chat = s.chat_class(self.prefix)
        where = Filter.all_of(
            [
                Filter.by_property("ns").equal(s.wrap(namespace)),
                Filter.by_property("kind").equal("h"),
                Filter.by_property("length").greater_than(0),
            ]
        )
        if chat not in self._ready and (yield from self._load_schema(chat)) is None:
            return []
        heads = yield from self._all(chat, where, ["session"])
        return sorted({s.unwrap(str(o.properties["session"])) for o in heads})

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        kv = s.kv_class(self.prefix)
        yield from self._ensure_class(kv, q.kv_class_config(kv))
        coll = s.wrap(collection)
        objects = []
        for key, value in items:
            oid = s.object_uuid("k", collection, key)
            objects.append(
                DataObject(
                    properties={
                        "coll": coll,
                        "key": s.wrap(key),
                        "value": base64.b64encode(value).decode("ascii"),
                        s.KEY: s.object_key(oid),
                    },
                    uuid=oid,
                )
            )
        for chunk in q.chunks(objects, self.batch_size):
            res = yield q.Call("data.insert_many", args=(list(chunk),), collection=kv)
            if res.has_errors:
                first = next(iter(res.errors.values()))
                raise BackendError(
                    f"Weaviate refused {len(res.errors)} key-value items: "
                    f"{getattr(first, 'message', first)}"
                )

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        kv = s.kv_class(self.prefix)
        uuids = [s.object_uuid("k", collection, k) for k in keys]
        if kv not in self._ready and (yield from self._load_schema(kv)) is None:
            return [None] * len(keys)
        objs = yield from self._fetch_by_ids(kv, list(dict.fromkeys(uuids)), ["value"])
        found = {str(o.uuid): base64.b64decode(o.properties["value"]) for o in objs}
        return [found.get(u) for u in uuids]

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        kv = s.kv_class(self.prefix)
        if kv not in self._ready and (yield from self._load_schema(kv)) is None:
            return
        for chunk in q.chunks([s.object_uuid("k", collection, k) for k in keys], FETCH_CHUNK):
            yield q.Call(
                "data.delete_many",
                kwargs={"where": Filter.by_id().contains_any(list(chunk))},
                collection=kv,
                tolerate=(NotFound,),
            )

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        kv = s.kv_class(self.prefix)
        if kv not in self._ready and (yield from self._load_schema(kv)) is None:
            return []
        parts = [Filter.by_property("coll").equal(s.wrap(collection))]
        if prefix and "*" not in prefix and "?" not in prefix:
            # Narrows the read; the exact test is the startswith below.
            parts.append(Filter.by_property("key").like(s.wrap(prefix)[:-1] + "*"))
        objs = yield from self._all(kv, Filter.all_of(parts) if len(parts) > 1 else parts[0],
                                    ["key"])
        keys = [s.unwrap(str(o.properties["key"])) for o in objs]
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))


def dataclass_replace_tolerate(call: q.Call) -> q.Call:
    """The same call with "already exists" returned rather than raised."""
    return q.Call(call.path, call.args, call.kwargs, call.collection, (AlreadyExists,))
