"""`ChromaBackend`: vectors, chat messages and key-value items in Chroma.

Each operation is written once, as a generator yielding :class:`~.query.Call`
steps (one chromadb client or collection method call each); ``connection.py``
runs a call on the blocking client (``execute``) or the async one (``aexecute``).
The embedded engine is blocking only: its async forms run in worker threads.
``filters.py`` translates filters, ``codec.py`` turns records, messages and items
into entries, ``query.py`` names collections. See docs/backends/chroma.md.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import BackendError, ConfigurationError, InvalidInputError, NotSupportedError
from ...filters import FilterNode
from ...sansio import Offload, Op, non_idempotent
from ...text import keyword_relevance, tokenize
from ...types import CollectionInfo, Message, Page, Record
from . import codec
from . import query as q
from .connection import Connection
from .filters import to_chroma_where
from .options import ChromaOptions, mask_url, parse_options, parse_server_options, parse_url

__all__ = ["ChromaBackend", "mask_url"]

T = TypeVar("T")

#: Ids per get / delete request, and entries per page of a full read.
ID_BATCH = 1000
#: Attempts at reserving a place for a chat append before giving up.
APPEND_TRIES = 10_000
#: Records per write on the embedded engine: it holds the GIL while it writes, and
#: a batch of this size holds it for well under 0.1 s, so other threads and event
#: loops of the process keep running.
EMBEDDED_BATCH = 128
#: Records above which encoding them is handed to a worker thread by async callers.
_OFFLOAD_MIN = 64


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _and(*parts: dict[str, Any] | None) -> dict[str, Any] | None:
    rest = [p for p in parts if p]
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else {"$and": rest}


class ChromaBackend(Backend):
    """Chroma: embedded (``chroma:///dir``) or a server (``chroma+http://host:8000``).

    Open with ``open_store("chroma:///path", **options)`` or
    ``open_store(chromadb_client)``. Options (see docs/backends/chroma.md):
    ``prefix`` (start of every Chroma collection name, ``"bruno"``), ``batch_size``
    (records per request; at most what the client reports, the default); for a
    server ``token``, ``token_header``, ``tenant``, ``database``, ``ssl_verify``,
    ``headers``.
    """

    name: ClassVar[str] = "chroma"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        ttl=False,
        native_async=False,
        nested_metadata=True,
        persistent=True,
        # Chroma has no substring test on metadata.
        refused_filters=frozenset({"substring"}),
    )

    def __init__(self, connection: Connection, options: ChromaOptions) -> None:
        """Use :meth:`from_url` or :meth:`from_client`."""
        self._conn = connection
        self.options = options
        self.prefix = options.prefix
        self.capabilities = self.capabilities.with_(  # type: ignore[misc]
            native_async=connection.native_async,
            # chromadb's embedded engine holds the GIL for the whole of each call.
            releases_gil=not connection.embedded,
        )
        self._lock = threading.Lock()
        self._infos: dict[str, CollectionInfo] = {}
        self._ready: set[str] = set()
        self._max_batch: int | None = None

    def __repr__(self) -> str:
        return f"ChromaBackend({self._conn.description!r})"

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, /, **options: Any) -> ChromaBackend:
        """Open embedded Chroma or a server from a URL (see the class docstring).

        Raises:
            ConfigurationError: a bad URL or option (before anything connects).
            BackendUnavailableError: the server does not answer (token masked).
        """
        target = parse_url(url)
        opts = {**target.options, **options}
        ours = parse_options(opts)
        server = parse_server_options(target, opts)
        return cls(Connection.for_target(target, server), ours)

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> ChromaBackend:
        """Use a chromadb client you have (sync or async); it is never closed here."""
        opts = dict(options)
        ours = parse_options(opts)
        if opts:
            raise ConfigurationError(
                f"unknown options for a Chroma client: {sorted(opts)} (connection settings "
                f"come from the client)"
            )
        return cls(Connection.for_client(client), ours)

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
    def _cname(self, name: str) -> str:
        return q.record_collection(self.prefix, name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._infos.pop(name, None)
        self._conn.forget(self._cname(name))

    def _batch(self) -> Op[int]:
        """Records per write: the client's maximum, or less when asked."""
        if self._max_batch is None:
            most = yield q.call("get_max_batch_size")
            self._max_batch = max(1, int(most))
            if self._conn.embedded:
                self._max_batch = min(self._max_batch, EMBEDDED_BATCH)
        if self.options.batch_size is not None:
            return min(self.options.batch_size, self._max_batch)
        return self._max_batch

    def _describe(self, name: str) -> Op[CollectionInfo | None]:
        with self._lock:
            cached = self._infos.get(name)
        if cached is not None:
            return cached
        cname = self._cname(name)
        col = yield q.soft_call("get_collection", name=cname, embedding_function=None)
        if isinstance(col, Exception):
            if self._conn.is_not_found(col):
                return None
            raise col
        info = q.info_from_metadata(col.metadata)
        if info is None or info.name != name:
            raise BackendError(
                f"Chroma collection {cname!r} exists but was not made by this package with "
                f"prefix {self.prefix!r} (its metadata holds no record of collection "
                f"{name!r}); use another prefix or collection name"
            )
        with self._lock:
            self._infos[name] = info
        return info

    def _require(self, name: str) -> Op[CollectionInfo]:
        info = yield from self._describe(name)
        if info is None:
            raise BackendError(
                f"collection {name!r} does not exist (dropped by another store?); open a new "
                f"store to create it again"
            )
        return info

    def _where(self, where: FilterNode | None) -> dict[str, Any] | bool:
        return to_chroma_where(where)

    def _all_ids(self, cname: str, where: dict[str, Any] | None) -> Op[list[str]]:
        """Ids of every entry matching ``where`` (ids only, paged)."""
        out: list[str] = []
        offset = 0
        while True:
            reply = yield q.call(
                "get", cname, where=where, limit=ID_BATCH * 10, offset=offset, include=[]
            )
            out += reply["ids"]
            if len(reply["ids"]) < ID_BATCH * 10:
                return out
            offset += len(reply["ids"])

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        cname = self._cname(info.name)
        self._forget(info.name)
        yield q.call(
            "get_or_create_collection",
            name=cname,
            embedding_function=None,
            **q.collection_settings(info),
        )

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        return (yield from self._describe(name))

    def list_collections(self) -> Op[list[str]]:
        start = q.record_collection_prefix(self.prefix)
        names: list[str] = []
        offset = 0
        while True:
            cols = yield q.call("list_collections", limit=100, offset=offset)
            for c in cols:
                if not c.name.startswith(start):
                    continue
                info = q.info_from_metadata(c.metadata)
                if info is not None and self._cname(info.name) == c.name:
                    names.append(info.name)
            if len(cols) < 100:
                return sorted(names)
            offset += len(cols)

    def drop_collection(self, name: str) -> Op[None]:
        self._forget(name)
        reply = yield q.soft_call("delete_collection", name=self._cname(name))
        self._forget(name)
        if isinstance(reply, Exception) and not self._conn.is_not_found(reply):
            raise reply

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        info = yield from self._require(collection)
        cname = self._cname(collection)
        size = yield from self._batch()

        def encode(chunk: Sequence[Record]) -> dict[str, Any]:
            metas, docs = [], []
            for r in chunk:
                meta, doc = codec.encode_record(r, info.metric)
                metas.append(meta)
                docs.append(doc)
            return {
                "ids": [r.id for r in chunk],
                "embeddings": [r.vector for r in chunk],
                "metadatas": metas,
                "documents": docs,
            }

        # Every chunk is encoded before any is written: a bad record changes nothing.
        if len(records) >= _OFFLOAD_MIN:
            batches = yield Offload(lambda: [encode(c) for c in _chunks(records, size)])
        else:
            batches = [encode(c) for c in _chunks(records, size)]
        for batch in batches:
            yield q.call("upsert", cname, **batch)

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        if (yield from self._describe(collection)) is None:
            return []
        include = ["metadatas", "embeddings"] if include_vectors else ["metadatas"]
        out: list[Record] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), ID_BATCH):  # Chroma refuses repeats
            reply = yield q.call("get", self._cname(collection), ids=list(chunk), include=include)
            out += self._records(reply, include_vectors)
        return out

    @staticmethod
    def _records(reply: dict[str, Any], vectors: bool) -> list[Record]:
        metas = reply.get("metadatas") or [None] * len(reply["ids"])
        embs = reply.get("embeddings") if vectors else None
        if embs is None:
            embs = [None] * len(reply["ids"])
        return [
            codec.decode_record(i, m, e) for i, m, e in zip(reply["ids"], metas, embs, strict=True)
        ]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        if not ids or (yield from self._describe(collection)) is None:
            return 0
        cname = self._cname(collection)
        removed = 0
        for chunk in _chunks(list(dict.fromkeys(ids)), ID_BATCH):
            found = yield q.call("get", cname, ids=list(chunk), include=[])
            if found["ids"]:
                yield q.call("delete", cname, ids=list(found["ids"]))
                removed += len(found["ids"])
        return removed

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        flt = self._where(where)
        if flt is False:
            return 0
        cname = self._cname(collection)
        # Counted first: Chroma's delete does not say how many entries it removed.
        ids = yield from self._all_ids(cname, flt if isinstance(flt, dict) else None)
        size = yield from self._batch()
        for chunk in _chunks(ids, size):
            yield q.call("delete", cname, ids=list(chunk))
        return len(ids)

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        flt = self._where(where)
        if flt is False:
            return 0
        cname = self._cname(collection)
        if flt is True:
            return int((yield q.call("count", cname)))
        return len((yield from self._all_ids(cname, flt)))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        offset = 0
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor.isascii() or not cursor.isdigit():
                raise InvalidInputError(f"not a cursor of the chroma backend: {cursor!r}")
            offset = int(cursor)
        if (yield from self._describe(collection)) is None:
            return Page([], None)
        flt = self._where(where)
        if flt is False:
            return Page([], None)
        include = ["metadatas", "embeddings"] if include_vectors else ["metadatas"]
        # Chroma pages by position: one more than asked tells whether a next page exists.
        reply = yield q.call(
            "get",
            self._cname(collection),
            where=flt if isinstance(flt, dict) else None,
            limit=limit + 1,
            offset=offset,
            include=include,
        )
        records = self._records(reply, include_vectors)
        more = len(records) > limit
        return Page(records[:limit], str(offset + limit) if more else None)

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        info = yield from self._describe(collection)
        if info is None:
            return []
        flt = self._where(where)
        if flt is False:
            return []
        include = ["metadatas", "distances"] + (["embeddings"] if include_vectors else [])
        reply = yield q.call(
            "query",
            self._cname(collection),
            query_embeddings=[list(vector)],
            n_results=k,
            where=flt if isinstance(flt, dict) else None,
            include=include,
        )
        ids = reply["ids"][0]
        metas = reply["metadatas"][0]
        dists = reply["distances"][0]
        embs = reply["embeddings"][0] if include_vectors else [None] * len(ids)
        hits = [
            (codec.decode_record(i, m, e), q.canonical_distance(info.metric, float(d)))
            for i, m, e, d in zip(ids, metas, embs, dists, strict=True)
        ]
        hits.sort(key=lambda h: (h[1], h[0].id))
        return hits

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        words = sorted(set(tokenize(query)))
        if not words or (yield from self._describe(collection)) is None:
            return []
        flt = self._where(where)
        if flt is False:
            return []
        # Chroma finds the records holding every word (exact: see codec.word_document);
        # it has no text ranking of its own, so the matches are ranked here.
        cname = self._cname(collection)
        scored: list[tuple[float, Record]] = []
        offset, page = 0, ID_BATCH
        while True:
            reply = yield q.call(
                "get",
                cname,
                where=flt if isinstance(flt, dict) else None,
                where_document=codec.word_query(words),
                limit=page,
                offset=offset,
                include=["metadatas"],
            )
            for rec in self._records(reply, False):
                scored.append((keyword_relevance(query, rec.text), rec))
            if len(reply["ids"]) < page:
                break
            offset += page
        scored.sort(key=lambda t: (-t[0], t[1].id))
        return [(rec, rel) for rel, rec in scored[:k] if rel > 0]

    # ------------------------------------------------------------ chat and key-value
    def _aux(self, cname: str) -> Op[str]:
        """Make the chat or key-value collection on first use."""
        with self._lock:
            if cname in self._ready:
                return cname
        yield q.call(
            "get_or_create_collection", name=cname, embedding_function=None, **q.aux_settings()
        )
        with self._lock:
            self._ready.add(cname)
        return cname

    def _chat(self) -> Op[str]:
        return (yield from self._aux(q.chat_collection(self.prefix)))

    def _kv(self) -> Op[str]:
        return (yield from self._aux(q.kv_collection(self.prefix)))

    def _entries(self, cname: str, ids: Sequence[str]) -> Op[dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), ID_BATCH):  # Chroma refuses repeats
            reply = yield q.call("get", cname, ids=list(chunk), include=["metadatas"])
            out.update(zip(reply["ids"], reply["metadatas"], strict=True))
        return out

    def _head(self, cname: str, namespace: str, session_id: str) -> Op[int]:
        """The length recorded in the session's head entry (0 when it has none)."""
        head_id = codec.chat_head_id(namespace, session_id)
        got = yield from self._entries(cname, [head_id])
        return int(got[head_id].get("count", 0)) if head_id in got else 0

    def _length(self, cname: str, namespace: str, session_id: str) -> Op[int]:
        """The session's length: its head, then past any append that has not raised it yet."""
        length = yield from self._head(cname, namespace, session_id)
        while True:
            first = codec.chat_message_id(namespace, session_id, length)
            got = yield from self._entries(cname, [first])
            if first not in got:
                return length
            length += max(1, int(got[first].get("size", 1)))

    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        """Append in order; safe with concurrent writers on any number of clients.

        Message ``n`` of a session is entry ``chat_message_id(ns, session, n)``.
        A writer claims places ``start .. start+k-1`` by *adding* the first message
        (Chroma's ``add`` leaves an existing id alone): reading it back tells whether
        this writer's token is there; if not, it skips the places the other writer
        claimed and tries after them. Then it writes the rest and records the new
        length in the head entry; readers also look past the head (``_length``), so a
        head written late by a slower writer never hides messages. Four requests
        for an append of one message.
        """
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        cname = yield from self._chat()
        # The head is where to try first; a place taken since is skipped below.
        head = start = yield from self._head(cname, namespace, session_id)
        size, token = len(messages), uuid.uuid4().hex

        def meta(seq: int, message: Message, extra: dict[str, Any]) -> dict[str, Any]:
            return {
                "kind": "msg",
                "ns": namespace,
                "session": session_id,
                "seq": seq,
                "body": codec.encode_message(message),
                **extra,
            }

        for _ in range(APPEND_TRIES):
            first = codec.chat_message_id(namespace, session_id, start)
            yield q.call(
                "add",
                cname,
                ids=[first],
                embeddings=[codec.PLACEHOLDER],
                metadatas=[meta(start, messages[0], {"size": size, "token": token})],
            )
            got = yield from self._entries(cname, [first])
            if first in got and got[first].get("token") == token:
                break
            if first in got:  # another writer holds this place: skip the places it claimed
                start += max(1, int(got[first].get("size", 1)))
        else:  # pragma: no cover - needs thousands of writers racing on one session
            raise BackendError(
                f"could not append to chat session {session_id!r}: too many concurrent writers"
            )
        rest = [(start + i, m) for i, m in enumerate(messages) if i > 0]
        batch = yield from self._batch()
        for chunk in _chunks(rest, batch):
            yield q.call(
                "upsert",
                cname,
                ids=[codec.chat_message_id(namespace, session_id, s) for s, _ in chunk],
                embeddings=[codec.PLACEHOLDER] * len(chunk),
                metadatas=[meta(s, m, {}) for s, m in chunk],
            )
        end = start + size
        head_id = codec.chat_head_id(namespace, session_id)
        if end > head:  # a slower writer may lower it again: readers look past it
            yield q.call(
                "upsert",
                cname,
                ids=[head_id],
                embeddings=[codec.PLACEHOLDER],
                metadatas=[{"kind": "head", "ns": namespace, "session": session_id, "count": end}],
            )

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        """Reads places ``length - last_n .. length - 1`` by id: O(last_n), not O(session)."""
        cname = yield from self._chat()
        length = yield from self._length(cname, namespace, session_id)
        hi = length
        lo = max(0, length - last_n) if last_n is not None else 0
        found: dict[int, Message] = {}
        while hi > lo:
            ids = [codec.chat_message_id(namespace, session_id, s) for s in range(lo, hi)]
            for m in (yield from self._entries(cname, ids)).values():
                found[int(m["seq"])] = codec.decode_message(m["body"])
            if last_n is None or len(found) >= last_n or lo == 0:
                break
            # Places claimed by an append that never finished: read further back.
            hi, lo = lo, max(0, lo - (last_n - len(found)))
        messages = [found[s] for s in sorted(found)]
        return messages[-last_n:] if last_n is not None else messages

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        cname = yield from self._chat()
        # The head first: readers see an empty session at once.
        yield q.call("delete", cname, ids=[codec.chat_head_id(namespace, session_id)])
        yield q.call(
            "delete",
            cname,
            where={"$and": [{"kind": "msg"}, {"ns": namespace}, {"session": session_id}]},
        )

    def _all_metadatas(self, cname: str, where: dict[str, Any]) -> Op[list[dict[str, Any]]]:
        out: list[dict[str, Any]] = []
        offset, page = 0, ID_BATCH * 10
        while True:
            reply = yield q.call(
                "get", cname, where=where, limit=page, offset=offset, include=["metadatas"]
            )
            out += reply["metadatas"]
            if len(reply["ids"]) < page:
                return out
            offset += page

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        cname = yield from self._chat()
        heads = yield from self._all_metadatas(
            cname, {"$and": [{"kind": "head"}, {"ns": namespace}]}
        )
        return sorted(str(m["session"]) for m in heads if int(m.get("count", 0)) > 0)

    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        cname = yield from self._kv()
        batch = yield from self._batch()
        for chunk in _chunks(items, batch):
            yield q.call(
                "upsert",
                cname,
                ids=[codec.kv_id(collection, key) for key, _ in chunk],
                embeddings=[codec.PLACEHOLDER] * len(chunk),
                metadatas=[
                    {"c": collection, "k": key, "v": codec.encode_value(value)}
                    for key, value in chunk
                ],
            )

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        cname = yield from self._kv()
        got = yield from self._entries(cname, [codec.kv_id(collection, k) for k in keys])
        found = {str(m["k"]): codec.decode_value(m["v"]) for m in got.values()}
        return [found.get(k) for k in keys]

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        cname = yield from self._kv()
        ids = list(dict.fromkeys(codec.kv_id(collection, k) for k in keys))
        for chunk in _chunks(ids, ID_BATCH):
            yield q.call("delete", cname, ids=list(chunk))

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        cname = yield from self._kv()
        metas = yield from self._all_metadatas(cname, {"c": collection})
        keys = (str(m["k"]) for m in metas)
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))
