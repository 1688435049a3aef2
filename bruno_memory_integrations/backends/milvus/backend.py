"""`MilvusBackend`: vectors, chat messages and key-value items in Milvus (server or Lite).

Each operation is written once, as a generator yielding :class:`~.query.Call`
steps (one ``MilvusClient`` method call each); ``connection.py`` runs a call on
the blocking client (``execute``) or the async one (``aexecute``). Milvus Lite
is run through the blocking client only (its async forms run in worker
threads). ``filters.py`` translates filters, ``codec.py`` turns records,
messages and items into rows, ``query.py`` names collections and builds
schemas. See docs/backends/milvus.md.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import BackendError, ConfigurationError, InvalidInputError, NotSupportedError
from ...filters import FilterNode
from ...sansio import Offload, Op, non_idempotent
from ...text import tokenize
from ...types import CollectionInfo, Message, Page, Record
from . import codec
from . import query as q
from .connection import Connection
from .filters import FILTER_FIELD, WORDS, string_literal, to_milvus_expr
from .options import MilvusOptions, client_options, mask_url, parse_options, parse_url

__all__ = ["MilvusBackend", "mask_url"]

T = TypeVar("T")

#: Ids per ``pk in [...]`` query.
ID_BATCH = 1000
#: Largest ``offset + limit`` of one query on a Milvus server, and largest search k.
WINDOW = 16384
#: Rows asked of Milvus Lite in one query (it has no window limit, and no order).
LITE_ALL = 1 << 30
#: Message places probed past a session's recorded length (a write may be newer).
PROBE = 32
#: Rows above which building them is handed to a worker thread by async callers.
_OFFLOAD_MIN = 64
#: BM25 constants of keyword search.
_K1, _B = 1.2, 0.75

_RECORD_FIELDS = ["pk", "t", "m"]


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _in(field: str, values: Sequence[str]) -> str:
    return f"{field} in [{', '.join(string_literal(v) for v in values)}]"


def _and(*parts: str | bool) -> str:
    return " and ".join(f"({p})" for p in parts if isinstance(p, str) and p)


class MilvusBackend(Backend):
    """Milvus: a server (``milvus://``, ``milvuss://``) or Milvus Lite (``milvus:///file.db``).

    Open with ``open_store("milvus://host:19530", **options)`` or
    ``open_store(milvus_client)``. Options (see docs/backends/milvus.md):
    ``prefix`` (start of every Milvus collection name, ``"bruno"``), ``scope``
    (independent stores inside one set of Milvus collections, ``""``),
    ``batch_size`` (rows per insert, 512), ``index`` (``FLAT``: exact; ``HNSW``,
    ``IVF_FLAT``, ``AUTOINDEX``), ``index_params``, ``search_params``,
    ``consistency`` (of reads: ``Session``, ``Strong``, ...); for a server
    ``token``, ``user``, ``password``, ``db_name``, ``timeout``.
    """

    name: ClassVar[str] = "milvus"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True,
        hybrid_search=True,
        ttl=False,
        native_async=True,
        nested_metadata=True,
        persistent=True,
        # Milvus' like is a prefix match on a server, with unescapable wildcards.
        refused_filters=frozenset({"substring"}),
    )

    def __init__(self, connection: Connection, options: MilvusOptions) -> None:
        """Use :meth:`from_url` or :meth:`from_client`."""
        self._conn = connection
        connection.consistency = options.consistency
        self.options = options
        self.prefix = options.prefix
        self.scope = options.scope
        self.lite = connection.lite
        self.capabilities = self.capabilities.with_(  # type: ignore[misc]
            native_async=connection.native_async
        )
        self._lock = threading.Lock()
        self._infos: dict[str, CollectionInfo] = {}
        self._ready: set[str] = set()
        self._schemas: dict[str, dict[str, Any]] = {}
        self._next_seq: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MilvusBackend({self._conn.description!r})"

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str, /, **options: Any) -> MilvusBackend:
        """Open a Milvus server or a Milvus Lite file from a URL (see the class docstring).

        Raises:
            ConfigurationError: a bad URL or option (before anything connects).
            BackendUnavailableError: the server does not answer (password and token masked).
        """
        target = parse_url(url)
        ours, rest = parse_options({**target.options, **options})
        kwargs = client_options(target, rest)
        conn = Connection.for_options(target.description, kwargs, target.mode == "lite")
        try:
            conn.check_server()
        except BaseException:
            conn.close()
            raise
        return cls(conn, ours)

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> MilvusBackend:
        """Use a ``MilvusClient`` you have (server or Lite); it is never closed here.

        Only the backend's own options apply (connection settings come from the client);
        the async methods run the client's calls in worker threads.
        """
        ours, rest = parse_options(dict(options))
        if rest:
            raise ConfigurationError(
                f"unknown options for a Milvus client: {sorted(rest)} (connection settings "
                f"come from the client)"
            )
        conn = Connection.for_client(client)
        conn.check_server()
        return cls(conn, ours)

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

    # ------------------------------------------------------------ physical collections
    def _ensure(self, qname: str, make: Any) -> Op[str]:
        """Make (on first use) and load a Milvus collection; ``make()`` gives its kwargs."""
        with self._lock:
            if qname in self._ready:
                return qname
        exists = yield q.call("has_collection", collection_name=qname)
        loaded = created = False
        if not exists:
            kwargs = make()
            index = kwargs.pop("index_params", None)
            reply = yield q.soft_call(
                "create_collection", collection_name=qname, consistency_level="Strong", **kwargs
            )
            if isinstance(reply, Exception) and "already exist" not in str(reply).lower():
                raise reply
            created = not isinstance(reply, Exception)
            if created and index is not None:
                yield q.call("create_index", collection_name=qname, index_params=index)
        else:
            state = yield q.call("get_load_state", collection_name=qname)
            loaded = "loaded" in str(state.get("state", "")).lower().replace("notload", "")
        if created:
            # A server takes about 3 s to load even an empty collection: the load starts
            # here and the first read waits for it (connection.py), so writes and the
            # loads of the store's two collections overlap instead of queueing.
            yield q.call("load_collection", collection_name=qname, **{q.NO_WAIT: True})
        elif not loaded:
            # Milvus Lite releases collections when a file is reopened; a server keeps
            # them loaded.
            yield q.call("load_collection", collection_name=qname)
        with self._lock:
            self._ready.add(qname)
        return qname

    def _schema(self, qname: str) -> Op[dict[str, Any]]:
        """A record collection's schema as the client describes it (fixed by its name)."""
        with self._lock:
            known = self._schemas.get(qname)
        if known is None:
            known = yield q.call("describe_collection", collection_name=qname)
            with self._lock:
                self._schemas[qname] = known
        return known

    def _aux(self) -> Op[str]:
        return (
            yield from self._ensure(
                q.aux_collection(self.prefix),
                lambda: {
                    "schema": q.aux_schema(),
                    "index_params": q.index_params("L2", "FLAT", {}),
                },
            )
        )

    def _records(self, info: CollectionInfo) -> Op[str]:
        metric = q.METRICS[info.metric]
        index = "FLAT" if self.lite else self.options.index
        return (
            yield from self._ensure(
                q.record_collection(self.prefix, info.dimension, info.metric),
                lambda: {
                    "schema": q.record_schema(info.dimension),
                    "index_params": q.index_params(metric, index, self.options.index_params),
                },
            )
        )

    def _query_all(self, qname: str, expr: str, fields: list[str]) -> Op[list[dict[str, Any]]]:
        """Every row matching ``expr``. A server returns rows in key order, so pages
        follow the last key; Milvus Lite has no window limit and is asked once."""
        if self.lite:
            rows = yield q.call(
                "query", collection_name=qname, filter=expr, output_fields=fields, limit=LITE_ALL
            )
            return list(rows)
        out: list[dict[str, Any]] = []
        last: str | None = None
        while True:
            page_expr = expr if last is None else _and(expr, f"pk > {string_literal(last)}")
            rows = yield q.call(
                "query",
                collection_name=qname,
                filter=page_expr,
                output_fields=list(dict.fromkeys(["pk", *fields])),
                limit=WINDOW,
            )
            rows = sorted(rows, key=lambda r: r["pk"])
            out += rows
            if len(rows) < WINDOW:
                return out
            last = rows[-1]["pk"]

    def _get_pks(
        self, qname: str, pks: Sequence[str], fields: list[str]
    ) -> Op[list[dict[str, Any]]]:
        out: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(pks)), ID_BATCH):
            out += yield q.call(
                "query",
                collection_name=qname,
                filter=_in("pk", chunk),
                output_fields=fields,
                limit=len(chunk),
            )
        return out

    def _write_aux(self, aux: str, rows: list[dict[str, Any]]) -> Op[None]:
        """Upsert auxiliary rows, a body longer than a VARCHAR in pieces (codec.split_body)."""
        out: list[dict[str, Any]] = []
        for row in rows:
            pieces = codec.split_body(row["body"])
            out.append({**row, "body": pieces[0]})
            out += [
                codec.aux_row(codec.part_pk(row["pk"], i), row["s"], "part", "", "", i, piece)
                for i, piece in enumerate(pieces[1:], 1)
            ]
        for chunk in _chunks(out, self.options.batch_size):
            yield q.call("upsert", collection_name=aux, data=list(chunk))

    def _bodies(self, aux: str, rows: list[dict[str, Any]]) -> Op[list[dict[str, Any]]]:
        """``rows`` with every body whole (the further pieces fetched by key)."""
        wanted = [
            codec.part_pk(r["pk"], i)
            for r in rows
            for i in range(1, codec.extra_parts(r["body"]) + 1)
        ]
        if not wanted:
            return rows
        parts = yield from self._get_pks(aux, wanted, ["pk", "body"])
        by_pk = {p["pk"]: p["body"] for p in parts}
        out = []
        for r in rows:
            k = codec.extra_parts(r["body"])
            pieces = [codec.first_part(r["body"])]
            pieces += [by_pk.get(codec.part_pk(r["pk"], i), "") for i in range(1, k + 1)]
            out.append({**r, "body": "".join(pieces)})
        return out

    def _delete_aux(self, aux: str, pks: Sequence[str]) -> Op[None]:
        """Delete auxiliary rows and the further pieces of their bodies."""
        rows = yield from self._get_pks(aux, pks, ["pk", "body"])
        extra = [
            codec.part_pk(r["pk"], i)
            for r in rows
            for i in range(1, codec.extra_parts(r["body"]) + 1)
        ]
        yield from self._delete_pks(aux, [str(r["pk"]) for r in rows] + extra)

    # ------------------------------------------------------------ catalog
    def _forget(self, name: str) -> None:
        with self._lock:
            self._infos.pop(name, None)

    def _describe(self, name: str) -> Op[CollectionInfo | None]:
        with self._lock:
            cached = self._infos.get(name)
        if cached is not None:
            return cached
        aux = yield from self._aux()
        rows = yield from self._get_pks(aux, [codec.info_pk(self.scope, name)], ["body"])
        if not rows:
            return None
        info = codec.info_from_body(rows[0]["body"])
        with self._lock:
            self._infos[name] = info
        return info

    def _require(self, name: str) -> Op[tuple[CollectionInfo, str, str]]:
        """(info, Milvus collection, collection key) of an existing collection."""
        info = yield from self._describe(name)
        if info is None:
            raise BackendError(
                f"collection {name!r} does not exist (dropped by another store?); open a new "
                f"store to create it again"
            )
        qname = yield from self._records(info)
        return info, qname, codec.collection_key(self.scope, name)

    def _where(self, ckey: str, where: FilterNode | None) -> str | bool:
        """The expression of a collection's records matching ``where`` (False: none)."""
        expr = to_milvus_expr(where, self.lite)
        if expr is False:
            return False
        return _and(f"c == {string_literal(ckey)}", expr)

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        aux = yield from self._aux()
        yield from self._records(info)
        self._forget(info.name)
        yield q.call("upsert", collection_name=aux, data=[codec.info_row(self.scope, info)])

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        return (yield from self._describe(name))

    def list_collections(self) -> Op[list[str]]:
        aux = yield from self._aux()
        rows = yield from self._query_all(
            aux, f'kind == "cat" and s == {string_literal(self.scope)}', ["b"]
        )
        return sorted(str(r["b"]) for r in rows)

    def drop_collection(self, name: str) -> Op[None]:
        info = yield from self._describe(name)
        self._forget(name)
        if info is None:
            return
        aux = yield from self._aux()
        qname = yield from self._records(info)
        ckey = codec.collection_key(self.scope, name)
        yield from self._delete_pks(aux, [codec.info_pk(self.scope, name)])
        rows = yield from self._query_all(qname, f"c == {string_literal(ckey)}", ["pk"])
        yield from self._delete_pks(qname, [str(r["pk"]) for r in rows])
        self._forget(name)

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        _, qname, ckey = yield from self._require(collection)
        schema = yield from self._schema(qname)

        def build() -> list[q.Call]:
            rows = [codec.record_row(ckey, r) for r in records]
            return [q.upsert_columns(qname, list(c), schema)
                    for c in _chunks(rows, self.options.batch_size)]

        # Every row is built (and checked) before the first write: a bad one changes nothing.
        steps = (yield Offload(build)) if len(records) >= _OFFLOAD_MIN else build()
        for step in steps:
            _ = yield step  # each reply goes back here (a list cannot take it: no yield from)

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        info = yield from self._describe(collection)
        if info is None or not ids:
            return []
        _, qname, ckey = yield from self._require(collection)
        fields = _RECORD_FIELDS + (["v"] if include_vectors else [])
        rows = yield from self._get_pks(qname, [codec.record_pk(ckey, i) for i in ids], fields)
        return [codec.decode_record(r, include_vectors) for r in rows]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        if not ids or (yield from self._describe(collection)) is None:
            return 0
        _, qname, ckey = yield from self._require(collection)
        found = yield from self._get_pks(qname, [codec.record_pk(ckey, i) for i in ids], ["pk"])
        existing = [str(r["pk"]) for r in found]
        yield from self._delete_pks(qname, existing)
        return len(existing)

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        _, qname, ckey = yield from self._require(collection)
        expr = self._where(ckey, where)
        if expr is False:
            return 0
        # The keys first: Milvus reports the keys it was asked to delete, not those it
        # found, and a delete by key skips the query a server makes for an expression.
        rows = yield from self._query_all(qname, str(expr), ["pk"])
        yield from self._delete_pks(qname, [str(r["pk"]) for r in rows])
        return len(rows)

    def _delete_pks(self, qname: str, pks: Sequence[str]) -> Op[None]:
        for chunk in _chunks(pks, ID_BATCH):
            yield q.call("delete", collection_name=qname, filter=_in("pk", chunk))

    def _count(self, qname: str, expr: str) -> Op[int]:
        rows = yield q.call(
            "query", collection_name=qname, filter=expr, output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        if (yield from self._describe(collection)) is None:
            return 0
        _, qname, ckey = yield from self._require(collection)
        expr = self._where(ckey, where)
        if expr is False:
            return 0
        return (yield from self._count(qname, str(expr)))

    @staticmethod
    def _cursor_id(cursor: str) -> str:
        try:
            if not isinstance(cursor, str) or not cursor.startswith("m"):
                raise ValueError
            return bytes.fromhex(cursor[1:]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(f"not a cursor of the milvus backend: {cursor!r}") from None

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        after = self._cursor_id(cursor) if cursor is not None else None
        if (yield from self._describe(collection)) is None:
            return Page([], None)
        _, qname, ckey = yield from self._require(collection)
        expr = self._where(ckey, where)
        if expr is False:
            return Page([], None)
        if after is not None:
            expr = _and(expr, f"pk > {string_literal(codec.record_pk(ckey, after))}")
        fields = _RECORD_FIELDS + (["v"] if include_vectors else [])
        if self.lite:
            # Milvus Lite returns rows in no particular order: find the page's keys first.
            keys = yield from self._query_all(qname, str(expr), ["pk"])
            page = sorted(str(r["pk"]) for r in keys)[:limit]
            rows = yield from self._get_pks(qname, page, fields)
        else:
            rows = yield q.call(
                "query",
                collection_name=qname,
                filter=expr,
                output_fields=fields,
                limit=min(limit, WINDOW),
            )
        rows = sorted(rows, key=lambda r: r["pk"])[:limit]
        records = [codec.decode_record(r, include_vectors) for r in rows]
        more = len(records) == limit and records
        return Page(records, "m" + records[-1].id.encode("utf-8").hex() if more else None)

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
        _, qname, ckey = yield from self._require(collection)
        expr = self._where(ckey, where)
        if expr is False:
            return []
        params: dict[str, Any] = {"metric_type": q.METRICS[info.metric]}
        if self.options.search_params and not self.lite:
            params["params"] = dict(self.options.search_params)
        reply = yield q.call(
            "search",
            collection_name=qname,
            data=[list(vector)],
            anns_field="v",
            filter=expr,
            limit=min(k, WINDOW),
            output_fields=_RECORD_FIELDS + (["v"] if include_vectors else []),
            search_params=params,
        )
        hits: list[Hit] = []
        for hit in reply[0]:
            entity = dict(hit["entity"])
            entity.setdefault("pk", hit.get("id", hit.get("pk")))
            rec = codec.decode_record(entity, include_vectors)
            hits.append((rec, q.canonical_distance(info.metric, float(hit["distance"]))))
        hits.sort(key=lambda h: (h[1], h[0].id))
        return hits

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        """Records holding every query word, ranked by BM25 over the collection.

        Milvus 2.3 and Milvus Lite have no full-text index: each record's words are
        stored in ``f["w"]``, ``json_contains_all`` finds the records that hold every
        word, and the ranking (BM25, document frequencies counted by Milvus) is
        computed here over those matches.
        """
        words = sorted(set(tokenize(query)))
        if not words or (yield from self._describe(collection)) is None:
            return []
        _, qname, ckey = yield from self._require(collection)
        expr = self._where(ckey, where)
        if expr is False:
            return []
        words_path = f'{FILTER_FIELD}["{WORDS}"]'
        has_all = f"json_contains_all({words_path}, [{', '.join(map(string_literal, words))}])"
        rows = yield from self._query_all(qname, _and(expr, has_all), _RECORD_FIELDS)
        if not rows:
            return []
        in_coll = f"c == {string_literal(ckey)}"
        total = yield from self._count(qname, in_coll)
        idf: dict[str, float] = {}
        for w in words:
            df = yield from self._count(
                qname, _and(in_coll, f"json_contains({words_path}, {string_literal(w)})")
            )
            idf[w] = math.log(1 + (total - df + 0.5) / (df + 0.5))
        docs = [(r, Counter(tokenize(str(r.get("t", ""))))) for r in rows]
        avg = sum(sum(c.values()) for _, c in docs) / len(docs) or 1.0
        hits: list[Hit] = []
        for row, counts in docs:
            length = sum(counts.values())
            score = 0.0
            for w in words:
                tf = counts.get(w, 0)
                score += idf[w] * tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * length / avg))
            hits.append((codec.decode_record(row, False), max(score, 1e-9)))
        hits.sort(key=lambda h: (-h[1], h[0].id))
        return hits[:k]

    # ------------------------------------------------------------ chat
    def _length(self, aux: str, skey: str) -> Op[int]:
        rows = yield from self._get_pks(aux, [codec.chat_head_pk(skey)], ["n"])
        return int(rows[0]["n"]) if rows else 0

    def _read(self, aux: str, skey: str, lo: int, hi: int) -> Op[dict[int, Message]]:
        pks = [codec.chat_message_pk(skey, s) for s in range(lo, hi)]
        rows = yield from self._get_pks(aux, pks, ["pk", "n", "body"])
        rows = yield from self._bodies(aux, rows)
        return {int(r["n"]): codec.decode_message(r["body"]) for r in rows}

    def _end(self, aux: str, skey: str) -> Op[tuple[int, dict[int, Message]]]:
        """(one past the last message, messages read past the recorded length).

        The recorded length may trail the messages (appends write it last, and two
        appends may record it out of order): the places after it are probed.
        """
        end = yield from self._length(aux, skey)
        extra: dict[int, Message] = {}
        while True:
            found = yield from self._read(aux, skey, end, end + PROBE)
            extra.update(found)
            if not found:
                return end, extra
            end = max(found) + 1

    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        """Append in order. Appends through one store are serialized by reserving
        places in memory; Milvus has no conditional write, so appends to one session
        from several processes at the same instant may overwrite each other."""
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        bodies = [codec.encode_message(m) for m in messages]  # checked before any write
        aux = yield from self._aux()
        skey = codec.session_key(self.scope, namespace, session_id)
        end, _ = yield from self._end(aux, skey)
        with self._lock:
            start = max(end, self._next_seq.get(skey, 0))
            self._next_seq[skey] = start + len(bodies)
        rows = [
            codec.aux_row(
                codec.chat_message_pk(skey, start + i), self.scope, "msg", namespace,
                session_id, start + i, body,
            )
            for i, body in enumerate(bodies)
        ]
        yield from self._write_aux(aux, rows)
        with self._lock:
            length = max(start + len(bodies), self._next_seq.get(skey, 0))
        head = codec.aux_row(
            codec.chat_head_pk(skey), self.scope, "head", namespace, session_id, length, ""
        )
        yield q.call("upsert", collection_name=aux, data=[head])

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        """Reads places ``length - last_n .. length - 1`` by key: O(last_n), not O(session)."""
        aux = yield from self._aux()
        skey = codec.session_key(self.scope, namespace, session_id)
        hi, found = yield from self._end(aux, skey)
        lo = max(0, hi - last_n) if last_n is not None else 0
        top = min(found) if found else hi
        while top > lo:
            found.update((yield from self._read(aux, skey, lo, top)))
            if last_n is None or len(found) >= last_n or lo == 0:
                break
            # Places of an append that never finished: read further back.
            top, lo = lo, max(0, lo - (last_n - len(found)))
        messages = [found[s] for s in sorted(found)]
        return messages[-last_n:] if last_n is not None else messages

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        aux = yield from self._aux()
        skey = codec.session_key(self.scope, namespace, session_id)
        end, _ = yield from self._end(aux, skey)
        with self._lock:
            end = max(end, self._next_seq.pop(skey, 0))
        # The head first: readers see an empty session at once. Then every message by
        # key (a server runs a query for a delete by expression).
        yield from self._delete_pks(aux, [codec.chat_head_pk(skey)])
        yield from self._delete_aux(aux, [codec.chat_message_pk(skey, n) for n in range(end)])

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        aux = yield from self._aux()
        rows = yield from self._query_all(
            aux,
            f'kind == "head" and s == {string_literal(self.scope)} and '
            f"a == {string_literal(namespace)} and n > 0",
            ["b"],
        )
        return sorted({str(r["b"]) for r in rows})

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        if ttl is not None:
            raise NotSupportedError(self.name, "TTL (expiry)", "call without ttl=")
        rows = [
            codec.aux_row(
                codec.kv_pk(self.scope, collection, key), self.scope, "kv", collection, key, 0,
                codec.encode_value(value),
            )
            for key, value in items
        ]
        aux = yield from self._aux()
        yield from self._write_aux(aux, rows)

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        aux = yield from self._aux()
        rows = yield from self._get_pks(
            aux, [codec.kv_pk(self.scope, collection, k) for k in keys], ["pk", "b", "body"]
        )
        rows = yield from self._bodies(aux, rows)
        found = {str(r["b"]): codec.decode_value(r["body"]) for r in rows}
        return [found.get(k) for k in keys]

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        aux = yield from self._aux()
        yield from self._delete_aux(aux, [codec.kv_pk(self.scope, collection, k) for k in keys])

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        aux = yield from self._aux()
        rows = yield from self._query_all(
            aux,
            f'kind == "kv" and s == {string_literal(self.scope)} and '
            f"a == {string_literal(collection)}",
            ["b"],
        )
        keys = (str(r["b"]) for r in rows)
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))
